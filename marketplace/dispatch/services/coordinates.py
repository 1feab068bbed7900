"""Where things are: checked coordinates, postcode centroids, the optional geocoder, and the points of a
drop-off, a producer and a courier's home."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _

from marketplace.catalog.models import ProducerProfile
from marketplace.core.errors import ServiceError
from marketplace.dispatch.geo import Coordinates, load_postcode_centroids
from marketplace.dispatch.models import CourierProfile, DeliveryJob, PostcodeCentroid
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_admin

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEMO_POSTCODES_CSV = PROJECT_ROOT / "data" / "postcodes-nantes.csv"


def check_coordinates(latitude: float | None, longitude: float | None) -> Coordinates | None:
    """Both or neither; in range; a clear message otherwise."""
    if latitude is None and longitude is None:
        return None
    if latitude is None or longitude is None:
        raise ServiceError(_("Enter both latitude and longitude, or neither."), "latitude")
    try:
        return Coordinates(float(latitude), float(longitude))
    except (TypeError, ValueError):
        field = "latitude" if not (isinstance(latitude, (int, float)) and -90 <= latitude <= 90) else "longitude"
        raise ServiceError(_("Coordinates out of range: latitude must be between -90 and 90, longitude "
                             "between -180 and 180."), field) from None


def import_postcode_centroids(admin: User, csv_text: str) -> int:
    """Replace the postcode-centroid table with a `postcode,lat,lon[,town]` CSV; all or nothing."""
    require_admin(admin)
    try:
        centroids = load_postcode_centroids(csv_text if "\n" in csv_text or "," in csv_text else csv_text + "\n")
    except ValueError as exc:
        raise ServiceError(_("The CSV was not imported: %(error)s", error=str(exc)), "csv") from None
    if not centroids:
        raise ServiceError(_("The CSV holds no postcode."), "csv")
    towns = _towns(csv_text)
    db.session.query(PostcodeCentroid).delete()
    for postcode, point in centroids.items():
        db.session.add(PostcodeCentroid(postcode=postcode[:16], latitude=point.lat, longitude=point.lon,
                                        town=towns.get(postcode, "")[:120]))
    db.session.flush()
    return len(centroids)


def _towns(csv_text: str) -> dict[str, str]:
    import csv
    import io

    return {row[0].strip(): row[3].strip() for row in csv.reader(io.StringIO(csv_text.lstrip("\ufeff")))
            if len(row) == 4}


@lru_cache(maxsize=1)
def _demo_centroids() -> dict[str, Coordinates]:
    return load_postcode_centroids(DEMO_POSTCODES_CSV) if DEMO_POSTCODES_CSV.exists() else {}


def centroid(postcode: str) -> Coordinates | None:
    """The coop's imported centroid for a postcode, else the demo area's shipped table."""
    postcode = (postcode or "").strip()
    if not postcode:
        return None
    row = db.session.get(PostcodeCentroid, postcode)
    if row is not None:
        return Coordinates(row.latitude, row.longitude)
    if db.session.query(PostcodeCentroid.postcode).first() is None:
        return _demo_centroids().get(postcode)
    return None


def _geocoder() -> Callable[[str, str, str], Coordinates | None] | None:
    """The optional geocoder (config DISPATCH_GEOCODER = "module:callable"): (address, postcode, town) to a point."""
    target = current_app.config.get("DISPATCH_GEOCODER")
    if not target:
        return None
    if callable(target):
        return target
    module, _sep, name = str(target).partition(":")
    return getattr(importlib.import_module(module), name)


def locate_dropoff(job: DeliveryJob) -> Coordinates | None:
    """Entered coordinates first, then the geocoder, then the postcode centroid (cached on the job)."""
    if job.latitude is not None and job.longitude is not None:
        return Coordinates(job.latitude, job.longitude)
    order = job.order
    point, source = None, ""
    geocode = _geocoder()
    if geocode is not None:
        try:
            point, source = geocode(order.delivery_address, order.delivery_postcode, order.delivery_town), "geocoder"
        except Exception as exc:  # an outside service: never block planning on it
            current_app.logger.warning("Geocoder failed for order %s: %s", order.id, exc)
            point = None
    if point is None:
        point, source = centroid(order.delivery_postcode), "postcode"
    if point is not None:
        job.latitude, job.longitude, job.coordinates_source = point.lat, point.lon, source
    return point


def locate_producer(producer: ProducerProfile) -> Coordinates | None:
    if producer.latitude is not None and producer.longitude is not None:
        return Coordinates(producer.latitude, producer.longitude)
    return centroid(producer.postcode)


def courier_home(profile: CourierProfile) -> Coordinates | None:
    if profile.home_latitude is not None and profile.home_longitude is not None:
        return Coordinates(profile.home_latitude, profile.home_longitude)
    return centroid(profile.user.postcode)
