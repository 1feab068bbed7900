"""The demo coop's content: Nantes-area producers and their products, in French with English words.

Prices are per unit, VAT included, as a small organic coop around Nantes would ask in 2026.
Each product: (French name, English name, category, unit, price in cents, stock or None, priced by
weight, grams per piece, French description, English description).
"""
from __future__ import annotations

from marketplace.catalog.models import Unit

CATEGORIES = [
    ("vegetables", "Vegetables", "Légumes"), ("fruit", "Fruit", "Fruits"),
    ("dairy", "Dairy & eggs", "Crèmerie & œufs"), ("meat", "Meat", "Viande"),
    ("bakery", "Bread & bakery", "Pain & boulangerie"), ("grocery", "Grocery", "Épicerie"),
    ("drinks", "Drinks", "Boissons"),
]

K, P, L, B, X = Unit.KG, Unit.PIECE, Unit.LITRE, Unit.BUNCH, Unit.BOX

PRODUCERS = [
    {
        "email": "ferme.du.marais@demo.coop", "name": "Claire Moreau", "farm": "Ferme du Marais",
        "town": "Saint-Herblain", "postcode": "44800", "address": "La Métairie, route de Vannes",
        "lat": 47.2212, "lon": -1.6480, "min_order": 2500,
        "description": "Maraîchage bio en bord de marais de Loire depuis 2009 : légumes de saison, récoltés "
                       "la veille de la distribution.",
        "products": [
            ("Carottes des sables", "Sandy-soil carrots", "vegetables", K, 280, 100, False, None,
             "Carottes sucrées et croquantes, cultivées en sol sableux.", "Sweet, crunchy carrots."),
            ("Poireaux", "Leeks", "vegetables", B, 250, 60, False, None, "Botte de trois poireaux.",
             "Bunch of three leeks."),
            ("Courge butternut", "Butternut squash", "vegetables", K, 320, 40, True, 1200,
             "Vendue au poids, environ 1,2 kg pièce.", "Sold by weight, about 1.2 kg each."),
            ("Pommes de terre Charlotte", "Charlotte potatoes", "vegetables", K, 240, 200, False, None,
             "Chair ferme, sachet de 1 kg.", "Firm-fleshed, 1 kg bag."),
            ("Salade batavia", "Batavia lettuce", "vegetables", P, 130, 50, False, None,
             "Cueillie le matin de la distribution.", "Picked on the morning of the pickup."),
            ("Panier de légumes", "Vegetable box", "vegetables", X, 1800, 25, False, None,
             "Six légumes de saison, environ 4 kg.", "Six seasonal vegetables, about 4 kg."),
            ("Chou kale", "Kale", "vegetables", B, 220, 30, False, None, "Botte de chou frisé.",
             "Bunch of curly kale."),
            ("Oignons jaunes", "Yellow onions", "vegetables", K, 260, None, False, None, "Filet de 1 kg.",
             "1 kg net."),
            ("Mâche nantaise", "Lamb's lettuce", "vegetables", P, 290, 40, False, None,
             "Barquette de 150 g, la salade d'hiver du pays nantais.", "150 g tray, Nantes' winter salad."),
        ],
    },
    {
        "email": "chevrerie.des.landes@demo.coop", "name": "Yann Le Goff", "farm": "Chèvrerie des Landes",
        "town": "Vertou", "postcode": "44120", "address": "Le Bois Joli", "lat": 47.1687, "lon": -1.4699,
        "min_order": 3000,
        "description": "Quarante chèvres au pâturage et des poules plein air ; fromages fermiers moulés à la "
                       "louche chaque jour.",
        "products": [
            ("Chèvre frais", "Fresh goat cheese", "dairy", P, 350, 40, False, None,
             "Façon faisselle, 150 g.", "Faisselle-style, 150 g."),
            ("Crottin affiné", "Aged goat cheese", "dairy", P, 520, 30, False, None,
             "Trois semaines d'affinage, 180 g.", "Aged three weeks, 180 g."),
            ("Tomme de chèvre", "Goat tomme", "dairy", K, 2600, 15, True, 400,
             "Vendue au poids, un morceau d'environ 400 g.", "Sold by weight, a piece of about 400 g."),
            ("Œufs plein air (6)", "Free-range eggs (6)", "dairy", X, 290, 60, False, None,
             "De nos poules, boîte de six.", "From our hens, box of six."),
            ("Yaourts au lait de chèvre (4)", "Goat milk yoghurt (4)", "dairy", X, 380, 25, False, None,
             "Nature, quatre pots.", "Plain, four pots."),
            ("Lait cru de chèvre", "Raw goat milk", "dairy", L, 210, 20, False, None,
             "Pensez à rapporter la bouteille.", "Please bring the bottle back."),
            ("Saucisse de chevreau", "Kid sausage", "meat", K, 2200, 10, True, 350,
             "Vendue au poids, environ 350 g.", "Sold by weight, about 350 g."),
        ],
    },
    {
        "email": "fournil.et.vergers@demo.coop", "name": "Inès Benali", "farm": "Fournil & Vergers",
        "town": "Rezé", "postcode": "44400", "address": "12 chemin des Pommiers", "lat": 47.1833,
        "lon": -1.5500, "min_order": 0,
        "description": "Pain au levain de notre propre blé, cuit au feu de bois, et un verger de variétés "
                       "anciennes.",
        "products": [
            ("Pain de campagne au levain", "Country sourdough loaf", "bakery", P, 520, 30, False, None,
             "1 kg, cuit au four à bois.", "1 kg, baked in a wood oven."),
            ("Pain de seigle aux graines", "Seeded rye bread", "bakery", P, 480, 20, False, None, "750 g.",
             "750 g."),
            ("Brioche", "Brioche", "bakery", P, 650, 12, False, None, "Au beurre et aux œufs de la ferme.",
             "Butter and farm eggs."),
            ("Pommes Reinette", "Reinette apples", "fruit", K, 330, 120, False, None,
             "Variété ancienne, 1 kg.", "Old variety, 1 kg."),
            ("Poires Conférence", "Conference pears", "fruit", K, 360, 80, False, None, "1 kg.", "1 kg."),
            ("Jus de pomme", "Apple juice", "drinks", L, 380, 60, False, None, "Pressé à la ferme, 1 L.",
             "Pressed on the farm, 1 L."),
            ("Cidre brut", "Dry cider", "drinks", L, 550, 40, False, None, "Bouteille de 75 cl.",
             "75 cl bottle."),
            ("Confiture de pommes", "Apple jam", "grocery", P, 450, 35, False, None, "Pot de 350 g.",
             "350 g jar."),
            ("Farine T80", "T80 flour", "grocery", K, 290, 50, False, None, "Moulue à la meule, 1 kg.",
             "Stone-milled, 1 kg."),
        ],
    },
    {
        "email": "ruchers.erdre@demo.coop", "name": "Hugo Brossard", "farm": "Les Ruchers de l'Erdre",
        "town": "Sucé-sur-Erdre", "postcode": "44240", "address": "La Grande Noë", "lat": 47.3436,
        "lon": -1.5281, "min_order": 0,
        "description": "Deux cents ruches le long de l'Erdre, miels récoltés et mis en pot à la miellerie.",
        "products": [
            ("Miel de printemps", "Spring honey", "grocery", P, 950, 40, False, None,
             "Crémeux, pot de 500 g.", "Creamy, 500 g jar."),
            ("Miel de châtaignier", "Chestnut honey", "grocery", P, 1100, 30, False, None,
             "Corsé, pot de 500 g.", "Strong, 500 g jar."),
            ("Pain d'épices", "Honey gingerbread", "bakery", P, 780, 20, False, None,
             "Au miel de la ferme, 400 g.", "With our honey, 400 g."),
        ],
    },
    {
        "email": "domaine.sangueze@demo.coop", "name": "Mathilde Chéreau", "farm": "Domaine de la Sanguèze",
        "town": "Vallet", "postcode": "44330", "address": "La Bretonnière", "lat": 47.1614, "lon": -1.2659,
        "min_order": 4000,
        "description": "Muscadet Sèvre-et-Maine en agriculture biologique, élevé sur lie.",
        "products": [
            ("Muscadet sur lie", "Muscadet sur lie (white wine)", "drinks", P, 950, 60, False, None,
             "Muscadet Sèvre-et-Maine, bouteille de 75 cl.", "Dry white wine, 75 cl bottle."),
            ("Jus de raisin", "Grape juice", "drinks", L, 420, 40, False, None, "Pur jus, 1 L.",
             "Pure juice, 1 L."),
        ],
    },
    {
        "email": "ferme.chaussee@demo.coop", "name": "Loïc Guérin", "farm": "Ferme de la Chaussée",
        "town": "Le Pellerin", "postcode": "44640", "address": "La Chaussée", "lat": 47.1989, "lon": -1.7567,
        "min_order": 3500,
        "description": "Volailles et porcs élevés en plein air au bord de la Loire, découpe à la ferme.",
        "products": [
            ("Poulet fermier", "Free-range chicken", "meat", K, 1250, 15, True, 1800,
             "Prêt à cuire, vendu au poids, environ 1,8 kg.", "Oven-ready, sold by weight, about 1.8 kg."),
            ("Rôti de porc", "Pork roast", "meat", K, 1890, 12, True, 1000,
             "Échine, vendu au poids, environ 1 kg.", "Shoulder, sold by weight, about 1 kg."),
            ("Rillettes", "Rillettes", "grocery", P, 620, 30, False, None, "Pot de 220 g.", "220 g jar."),
        ],
    },
]

# VAT: food 5.5 %, alcohol 20 %.
ALCOHOL = {"Cidre brut", "Muscadet sur lie"}

# Products sold in several sizes: the first variant is the product as listed above (named here), then
# the others: (label, unit, price in cents).
VARIANTS = {
    "Carottes des sables": ("1 kg", [("Sac de 5 kg", X, 1250)]),
    "Pommes de terre Charlotte": ("1 kg", [("Sac de 5 kg", X, 1050), ("Sac de 10 kg", X, 1950)]),
    "Œufs plein air (6)": ("Boîte de 6", [("Plateau de 12", X, 550)]),
    "Miel de printemps": ("Pot de 500 g", [("Pot de 250 g", P, 550), ("Seau de 1 kg", P, 1750)]),
}

# What Ferme du Marais brings to the open Thursday distribution (variant label or "" -> quantity, None =
# unlimited, then an optional price of the day): it has said so, so only these are sold there. The other
# producers have not said yet: all their products are sold from their stock.
THURSDAY_OFFERS = {
    ("Carottes des sables", "1 kg"): (40, None), ("Carottes des sables", "Sac de 5 kg"): (6, 1150),
    ("Pommes de terre Charlotte", "1 kg"): (None, None), ("Pommes de terre Charlotte", "Sac de 5 kg"): (10, None),
    ("Salade batavia", ""): (30, None), ("Panier de légumes", ""): (25, None), ("Poireaux", ""): (20, None),
}
