"""Paginated lists with filters: the pagination links keep the filters, not the page."""


def querystring_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()
