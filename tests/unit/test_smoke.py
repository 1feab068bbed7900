from tests.factories import login, make_distribution, make_member, make_producer, make_product
from marketplace.extensions import db


def test_pages_render(app, client):
    producer = make_producer("farm@test.coop", "Ferme Test")
    make_product(producer, "Leeks")
    make_distribution([producer])
    buyer = make_member("buyer@test.coop")
    db.session.commit()
    for url in ["/", "/products", "/distributions", "/privacy", "/login", "/signup"]:
        assert client.get(url).status_code == 200, url
    assert login(client, buyer).status_code == 302
    for url in ["/me", "/cart", "/orders", "/products?q=leek"]:
        response = client.get(url)
        assert response.status_code == 200, url
