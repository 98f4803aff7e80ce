# Fixtures the drills share with the suites they extend: the access matrix's cast of users,
# the broker-outage test's dead broker.
from ..portal.test_access_matrix_post import people  # noqa: F401
from ..portal.test_broker_outage import redis_down  # noqa: F401
