"""The app as gunicorn serves it, configured from the environment, with the tests' form settings."""
from marketplace import create_app

app = create_app({"WTF_CSRF_ENABLED": False, "PASSWORD_HASH_CHEAP": True, "BABEL_DEFAULT_LOCALE": "en"})
