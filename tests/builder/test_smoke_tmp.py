from tests.builder.conftest import draft, task


def test_pages_render(builder_client, branched):
    for url in ["/workflows/", f"/workflows/{branched.pk}/", f"/workflows/{branched.pk}/criteria/",
                f"/workflows/{branched.pk}/add/?slot=after:1", f"/workflows/{branched.pk}/steps/1/",
                f"/workflows/{branched.pk}/steps/2/", f"/workflows/{branched.pk}/steps/4/data/?field=title",
                f"/workflows/{branched.pk}/review/", f"/workflows/{branched.pk}/steps/1/delete/"]:
        r = builder_client.get(url)
        assert r.status_code == 200, (url, r.content[:3000])
    print(builder_client.get(f"/workflows/{branched.pk}/steps/4/data/?field=title").content.decode()[:3000])
