"""The shop's own pages that gather several domains (home page, a member's dashboard) and its plumbing routes
(language, uploads, colours, privacy, health). The top layer: it may import every domain, none imports it."""
