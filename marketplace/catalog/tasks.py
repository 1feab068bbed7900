"""Catalogue tasks: product pages rendered ahead of their visitors (catalog/prerender.py)."""
from celery import shared_task
from flask import current_app

from marketplace.catalog import prerender


@shared_task(name="catalog.prerender_product_pages", acks_late=True, soft_time_limit=110, time_limit=120)
def prerender_product_pages() -> dict:
    """Render what is missing or about to expire, for at most 90 s (the next run goes on): it writes to Redis only,
    and reads in its own transactions."""
    run = prerender.prerender_product_pages(current_app._get_current_object(), deadline_s=90.0)
    return {"products": run.products, "rendered": run.rendered, "present": run.present, "finished": run.finished}
