"""Security checks that crawl the whole app (headers, cookies, safe methods) and hostile-file tests."""
