// A public form's anti-spam puzzle (crm/proof_of_work.py): find a counter such that
// SHA-256("<challenge>:<counter>") starts with N zero bits, N from data-proof-of-work.
// The work starts when the page loads, in slices that keep the page responsive; a
// submit before it is done waits for it. SHA-256 is written out here (no outside
// service, and crypto.subtle is missing outside HTTPS and too slow one hash per call).
(function () {
  "use strict";

  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ];
  var W = new Int32Array(64);

  // One SHA-256 compression of the 64 bytes at `offset` into `state` (8 words).
  function compress(state, bytes, offset) {
    var t;
    for (t = 0; t < 16; t++) {
      var j = offset + t * 4;
      W[t] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
    }
    for (t = 16; t < 64; t++) {
      var w15 = W[t - 15], w2 = W[t - 2];
      var s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
      var s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
      W[t] = (W[t - 16] + s0 + W[t - 7] + s1) | 0;
    }
    var a = state[0], b = state[1], c = state[2], d = state[3];
    var e = state[4], f = state[5], g = state[6], h = state[7];
    for (t = 0; t < 64; t++) {
      var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      var temp1 = (h + S1 + ((e & f) ^ (~e & g)) + K[t] + W[t]) | 0;
      var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      var temp2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + temp1) | 0;
      d = c; c = b; b = a; a = (temp1 + temp2) | 0;
    }
    state[0] = (state[0] + a) | 0; state[1] = (state[1] + b) | 0;
    state[2] = (state[2] + c) | 0; state[3] = (state[3] + d) | 0;
    state[4] = (state[4] + e) | 0; state[5] = (state[5] + f) | 0;
    state[6] = (state[6] + g) | 0; state[7] = (state[7] + h) | 0;
  }

  // hasher(prefix)(suffix): the first 32 bits of SHA-256(prefix + suffix), both ASCII.
  // The prefix's whole blocks are hashed once, so each try hashes only the last ones.
  function hasher(prefix) {
    var midstate = new Int32Array([
      0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
    ]);
    var whole = prefix.length - (prefix.length % 64);
    var head = new Uint8Array(whole);
    for (var i = 0; i < whole; i++) head[i] = prefix.charCodeAt(i) & 0xff;
    for (var offset = 0; offset < whole; offset += 64) compress(midstate, head, offset);
    var rest = prefix.slice(whole);
    var tail = new Uint8Array(192);
    var state = new Int32Array(8);
    return function (suffix) {
      var text = rest + suffix;
      var length = text.length;
      var size = (length + 9 + 63) & ~63;
      tail.fill(0, 0, size);
      for (var k = 0; k < length; k++) tail[k] = text.charCodeAt(k) & 0xff;
      tail[length] = 0x80;
      var bits = (prefix.length + suffix.length) * 8;
      tail[size - 4] = (bits >>> 24) & 0xff;
      tail[size - 3] = (bits >>> 16) & 0xff;
      tail[size - 2] = (bits >>> 8) & 0xff;
      tail[size - 1] = bits & 0xff;
      state.set(midstate);
      for (var at = 0; at < size; at += 64) compress(state, tail, at);
      return state[0] >>> 0;
    };
  }

  function solve(form) {
    var bits = Number(form.dataset.proofOfWork);
    var challenge = form.querySelector("input[name=pow_challenge]").value;
    var answer = form.querySelector("input[name=pow_counter]");
    var status = form.querySelector("[data-proof-of-work-status]");
    // Up to 32 bits are read from the first word; the server allows at most 26.
    var limit = Math.pow(2, 32 - bits);
    var counter = 0;
    var waiting = false;
    var hash = hasher(challenge + ":");

    form.addEventListener("submit", function (event) {
      if (answer.value) return;
      event.preventDefault();
      waiting = true;
      if (status) status.textContent = status.dataset.working;
    });

    function slice() {
      var end = counter + 20000;
      for (; counter < end; counter++) {
        if (hash(String(counter)) < limit) {
          answer.value = String(counter);
          if (waiting) {
            if (status) status.textContent = "";
            form.requestSubmit();
          }
          return;
        }
      }
      setTimeout(slice, 0);
    }
    setTimeout(slice, 0);
  }

  document.querySelectorAll("form[data-proof-of-work]").forEach(solve);
})();
