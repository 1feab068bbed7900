"""The OpenAPI 3 document of the producers' API, served at /api/openapi.json."""
from __future__ import annotations

UNITS = ["kg", "piece", "litre", "bunch", "box"]
PART_STATUSES = ["placed", "accepted", "ready", "handed_to_courier", "collected", "delivered", "cancelled"]
VAT_RATES = [0, 210, 550, 1000, 2000]


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


ERRORS = {"400": _error("Invalid request"), "401": _error("Missing, unknown or revoked token"),
          "403": _error("The token's account may not do this"), "404": _error("Not found"),
          "429": _error("Too many requests")}
PAGING = [
    {"name": "page", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 1}},
    {"name": "per_page", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
]
PRODUCT_ID = {"name": "product_id", "in": "path", "required": True,
              "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647}}

DISTRIBUTION_ID = {"name": "distribution_id", "in": "path", "required": True,
                   "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647}}

PRODUCT_FIELDS = {
    "name": {"type": "string", "minLength": 1, "maxLength": 120},
    "description": {"type": "string", "maxLength": 4000},
    "category_id": {"type": "integer"},
    "unit": {"type": "string", "enum": UNITS},
    "price_cents": {"type": "integer", "minimum": 1, "maximum": 1000000000},
    "vat_rate_bp": {"type": "integer", "enum": VAT_RATES},
    "stock": {"type": ["integer", "null"], "minimum": 0, "maximum": 1000000},
    "is_weight_priced": {"type": "boolean"},
    "estimated_weight_g": {"type": ["integer", "null"], "minimum": 1, "maximum": 100000},
    "active": {"type": "boolean"},
}


def openapi_document(server_url: str = "") -> dict:
    """The whole document: who may call, the shapes exchanged (_schemas), the operations (_paths)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Coop marketplace — producers' API", "version": "1.0.0",
                 "description": "List and update your own products and stock, list your order parts. "
                                "Authenticate with `Authorization: Bearer <token>` (create tokens on your "
                                "account page). Amounts are integer cents, VAT included. Rate-limited; "
                                "errors are JSON objects {\"error\": message}."},
        "servers": [{"url": server_url or "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
        "paths": _paths(),
    }


def _schemas() -> dict:
    """The request and response bodies."""
    product = {"type": "object", "properties": {"id": {"type": "integer"}, **PRODUCT_FIELDS,
                                                "hidden_reason": {"type": ["string", "null"]},
                                                "updated_at": {"type": ["string", "null"]}},
               "required": ["id", "name", "unit", "price_cents", "stock", "active"]}
    return {
        "Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
        "Product": product,
        "ProductCreate": {"type": "object", "properties": PRODUCT_FIELDS,
                          "required": ["name", "category_id", "unit", "price_cents"],
                          "additionalProperties": False},
        "ProductPatch": {"type": "object", "properties": PRODUCT_FIELDS, "additionalProperties": False},
        "Stock": {"type": "object", "properties": {"stock": PRODUCT_FIELDS["stock"]}, "required": ["stock"],
                  "additionalProperties": False},
        "Offers": {"type": "object", "properties": {
            "distribution_id": {"type": "integer"}, "offers_set": {"type": "boolean"},
            "offers": {"type": "array", "items": {"type": "object", "properties": {
                "variant_id": {"type": "integer"}, "product_id": {"type": "integer"}, "label": {"type": "string"},
                "unit": {"type": "string"}, "usual_price_cents": {"type": "integer"}, "offered": {"type": "boolean"},
                "quantity": {"type": ["integer", "null"]}, "reserved": {"type": "integer"},
                "price_cents": {"type": ["integer", "null"]}}}}}},
        "OffersPut": {"type": "object", "required": ["offers"], "additionalProperties": False, "properties": {
            "offers": {"type": "array", "maxItems": 1000, "items": {
                "type": "object", "required": ["variant_id"], "additionalProperties": False, "properties": {
                    "variant_id": {"type": "integer", "minimum": 1},
                    "quantity": {"type": ["integer", "null"], "minimum": 0, "maximum": 1000000},
                    "price_cents": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000000000}}}}}},
        "OrderLine": {"type": "object", "properties": {
            "variant_id": {"type": "integer"}, "variant_label": {"type": "string"},
            "id": {"type": "integer"}, "product_id": {"type": "integer"}, "product_name": {"type": "string"},
            "unit": {"type": "string"}, "quantity": {"type": "integer"},
            "unit_price_cents": {"type": "integer"}, "status": {"type": "string"},
            "is_weight_priced": {"type": "boolean"}, "weighed_grams": {"type": ["integer", "null"]}}},
        "OrderPart": {"type": "object", "properties": {
            "id": {"type": "integer"}, "order_reference": {"type": "string"},
            "status": {"type": "string", "enum": PART_STATUSES}, "distribution_id": {"type": "integer"},
            "pickup_starts_at": {"type": "string"}, "fulfilment": {"type": "string"},
            "estimated_cents": {"type": "integer"}, "final_cents": {"type": "integer"},
            "lines": {"type": "array", "items": {"$ref": "#/components/schemas/OrderLine"}}}},
    }


def _paths() -> dict:
    """The operations: products (list, create, read, update, stock) and order parts."""
    return {
        "/api/v1/products": {
            "get": {"operationId": "listProducts", "summary": "Your products", "parameters": PAGING,
                    "responses": {"200": {"description": "A page of products", "content": {"application/json": {
                        "schema": {"type": "object", "properties": {
                            "products": {"type": "array", "items": {"$ref": "#/components/schemas/Product"}},
                            "page": {"type": "integer"}, "per_page": {"type": "integer"},
                            "total": {"type": "integer"}}}}}}, **ERRORS}},
            "post": {"operationId": "createProduct", "summary": "List a new product",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/ProductCreate"}}}},
                     "responses": {"201": {"description": "Created", "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/Product"}}}}, **ERRORS}},
        },
        "/api/v1/products/{product_id}": {
            "get": {"operationId": "getProduct", "parameters": [PRODUCT_ID],
                    "responses": {"200": {"description": "The product", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Product"}}}}, **ERRORS}},
            "patch": {"operationId": "updateProduct", "parameters": [PRODUCT_ID],
                      "requestBody": {"required": True, "content": {"application/json": {
                          "schema": {"$ref": "#/components/schemas/ProductPatch"}}}},
                      "responses": {"200": {"description": "Updated", "content": {"application/json": {
                          "schema": {"$ref": "#/components/schemas/Product"}}}}, **ERRORS}},
        },
        "/api/v1/products/{product_id}/stock": {
            "put": {"operationId": "setStock", "parameters": [PRODUCT_ID],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Stock"}}}},
                    "responses": {"200": {"description": "Updated", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Product"}}}}, **ERRORS}},
        },
        "/api/v1/distributions/{distribution_id}/offers": {
            "get": {"operationId": "getOffers", "summary": "What you bring to a distribution (every variant)",
                    "parameters": [DISTRIBUTION_ID],
                    "responses": {"200": {"description": "Your offers", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Offers"}}}}, **ERRORS}},
            "put": {"operationId": "setOffers",
                    "summary": "Set all your offers for a distribution (variants not listed are withdrawn)",
                    "parameters": [DISTRIBUTION_ID],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/OffersPut"}}}},
                    "responses": {"200": {"description": "Saved", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Offers"}}}},
                                  "409": _error("Ordering is over, or a quantity is below what is ordered"),
                                  **ERRORS}},
        },
        "/api/v1/order-parts": {
            "get": {"operationId": "listOrderParts", "summary": "Your parts of buyers' orders",
                    "parameters": [*PAGING, {"name": "status", "in": "query", "required": False,
                                             "schema": {"type": "string", "enum": PART_STATUSES}}],
                    "responses": {"200": {"description": "A page of order parts", "content": {"application/json": {
                        "schema": {"type": "object", "properties": {
                            "order_parts": {"type": "array", "items": {"$ref": "#/components/schemas/OrderPart"}},
                            "page": {"type": "integer"}, "per_page": {"type": "integer"},
                            "total": {"type": "integer"}}}}}}, **ERRORS}},
        },

    }
