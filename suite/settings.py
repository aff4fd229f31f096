"""Troika settings: one module, every difference between dev, test and prod comes from the environment.

TROIKA_ENV=dev|test|prod picks safe defaults; any single setting can still be overridden by its own variable.
The embedded stack (`suite/stack.py`) writes DATABASE_URL, REDIS_URL and SECRET_KEY to var/stack.env, which is
read here as a fallback: real environment variables always win.
"""

from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if env.str("TROIKA_ENV", default="dev") != "prod":
    # Production is configured explicitly by its environment, never by what a dev stack left in var/.
    # The file's values are defaults for this module only: they are not copied into os.environ, which would
    # make every process that merely imports the settings (the launcher via Celery's config, subprocesses)
    # look as if DATABASE_URL / REDIS_URL had been set by the user.
    _stack_env: dict[str, str] = {}
    if (BASE_DIR / "var" / "stack.env").exists():
        for _line in (BASE_DIR / "var" / "stack.env").read_text().splitlines():
            if "=" in _line and not _line.lstrip().startswith("#"):
                _key, _value = _line.split("=", 1)
                _stack_env[_key.strip()] = _value.strip()
    env.ENVIRON = {**_stack_env, **environ.Env.ENVIRON}

TROIKA_ENV = env.str("TROIKA_ENV", default="dev")
assert TROIKA_ENV in ("dev", "test", "prod"), f"TROIKA_ENV must be dev, test or prod, not {TROIKA_ENV!r}"
IS_PROD = TROIKA_ENV == "prod"
IS_TEST = TROIKA_ENV == "test"

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="" if IS_PROD else "troika-insecure-dev-key-change-me-" + "x" * 20)
if not SECRET_KEY:
    raise environ.ImproperlyConfigured("SECRET_KEY must be set when TROIKA_ENV=prod")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if IS_PROD else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "django_prometheus",
    "chartjs",  # only for its static Chart.min.js (dashboards, docs/decisions.md)
    "suite",
    "crm",
    "scrm",
    "erp",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "suite.ops.middleware.RequestIdMiddleware",
    "suite.api.errors.ApiErrorMiddleware",  # every /api/ error in the one JSON format, even Django's own
    "django.middleware.security.SecurityMiddleware",
    "suite.api.lean.ApiTokenLeanMiddleware",  # token /api/ requests: the rest of this list minus session/CSRF/…
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "suite.middleware.NulByteGuardMiddleware",  # a NUL byte in a page's query or form: 400 before any view
    "django_otp.middleware.OTPMiddleware",
    "suite.middleware.CompanyMiddleware",
    "suite.ui.module_gate.ModuleGateMiddleware",  # pages of modules the company has not enabled are a 404
    "suite.auth.middleware.TwoFactorRequiredMiddleware",
    "suite.audit.AuditContextMiddleware",
    "suite.api.idempotency.IdempotencyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "suite.urls"
WSGI_APPLICATION = "suite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "suite.ui.context_processors.shell",
            ],
        },
    },
]

# ---------------------------------------------------------------- database
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:55432/troika")}
DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
# Persistent connections: Django's CONN_MAX_AGE=0 costs 2.7x on a list (PERFORMANCE-NOTES.md).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0 if IS_TEST else 600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["TEST"] = {"NAME": env.str("TROIKA_TEST_DB", default="test_troika")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------- Redis: cache, Celery, throttles, heartbeats
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:56379/0")
CACHES = {
    "default": {
        "BACKEND": "suite.cache.RedisCache",  # one Redis client per pool (suite/cache.py)
        "LOCATION": REDIS_URL,
        # Tests under xdist (make test runs two processes): one prefix per process, so a test's cache.clear() or
        # throttle counts stay its own; a worker started by a test is handed the prefix explicitly.
        "KEY_PREFIX": env.str("TROIKA_CACHE_PREFIX", default="troika" + env.str("PYTEST_XDIST_WORKER", default="")),
        "TIMEOUT": 300,
    }
}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
# Tests get a queue of their own (per test database and xdist worker), so a test's tasks never reach the dev
# stack's worker or another test run's worker (suite/testing_worker.py starts one on this queue).
_TEST_QUEUE = "troika-{}{}".format(
    env.str("TROIKA_TEST_DB", default="test_troika"), env.str("PYTEST_XDIST_WORKER", default="")
)
CELERY_TASK_DEFAULT_QUEUE = env.str("TROIKA_QUEUE", default=_TEST_QUEUE if IS_TEST else "troika")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Loss-free work (docs/decisions.md): a task is acknowledged only after it finished, and a task whose worker
# process died is put back on the queue instead of being dropped.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis re-delivers an unacknowledged message after this long; it must exceed the longest task (imports, MRP).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 3600)}
CELERY_TASK_TIME_LIMIT = 3600
CELERY_TASK_SOFT_TIME_LIMIT = 3300
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_TASK_ALWAYS_EAGER = False

# ---------------------------------------------------------------- auth
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
if IS_TEST:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Brute-force protection (django-axes): lock a username+IP pair after 5 failures for 30 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 0.5
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

OTP_TOTP_ISSUER = "Troika"

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.{}.EmailBackend".format("smtp" if IS_PROD else "console"),
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="troika@localhost")

# ---------------------------------------------------------------- i18n
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True
TROIKA_DEFAULT_CURRENCY = "CNY"
FORMAT_MODULE_PATH = ["suite.formats"]  # zh-hans money/number grouping by 3 with commas
# The language chosen in the shell (Django's set_language) outlives the browser session.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SECURE = env.bool("LANGUAGE_COOKIE_SECURE", default=IS_PROD)

# ---------------------------------------------------------------- static and uploads
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))
MEDIA_URL = "/media/"  # never served directly: uploads go through suite.uploads' checked view
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PROD
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not IS_PROD
TROIKA_UPLOAD_MAX_BYTES = env.int("TROIKA_UPLOAD_MAX_BYTES", default=10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024

# ---------------------------------------------------------------- security
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie; see templates/base.html
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=IS_PROD)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=IS_PROD)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=IS_PROD)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if IS_PROD else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = IS_PROD
SECURE_HSTS_PRELOAD = IS_PROD
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=IS_PROD) else None
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

# Outgoing requests to user-given URLs (webhooks) refuse private addresses; tests may allow their local server.
TROIKA_OUTBOUND_ALLOW = env.list("TROIKA_OUTBOUND_ALLOW", default=[])

# ---------------------------------------------------------------- events: outbox relay and webhooks (docs/events.md)
TROIKA_OUTBOX_BATCH_SIZE = env.int("TROIKA_OUTBOX_BATCH_SIZE", default=500)
TROIKA_OUTBOX_MAX_ATTEMPTS = env.int("TROIKA_OUTBOX_MAX_ATTEMPTS", default=5)
TROIKA_OUTBOX_BACKOFF_SECONDS = env.float("TROIKA_OUTBOX_BACKOFF_SECONDS", default=2.0)  # 2, 4, 8, 16 s …
TROIKA_OUTBOX_BACKOFF_MAX_SECONDS = env.float("TROIKA_OUTBOX_BACKOFF_MAX_SECONDS", default=3600.0)
TROIKA_OUTBOX_RETENTION_DAYS = env.int("TROIKA_OUTBOX_RETENTION_DAYS", default=30)
# A relay woken by a commit starts this long after it (the wake-ups of that window are coalesced into it): bigger
# batches for batch handlers at the cost of that much latency per hop (issue #7 figure; 0 = at once).
TROIKA_OUTBOX_RELAY_LINGER_SECONDS = env.float("TROIKA_OUTBOX_RELAY_LINGER_SECONDS", default=0.2)
# Extra modules whose @events.handler functions every process registers (tests use it for their handlers).
TROIKA_EXTRA_EVENT_MODULES = env.list("TROIKA_EXTRA_EVENT_MODULES", default=[])
TROIKA_WEBHOOK_MAX_ATTEMPTS = env.int("TROIKA_WEBHOOK_MAX_ATTEMPTS", default=8)
TROIKA_WEBHOOK_BACKOFF_SECONDS = env.float("TROIKA_WEBHOOK_BACKOFF_SECONDS", default=30.0)  # 30 s … ~1 h
TROIKA_WEBHOOK_TIMEOUT_SECONDS = env.float("TROIKA_WEBHOOK_TIMEOUT_SECONDS", default=10.0)

# ---------------------------------------------------------------- REST API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "suite.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["suite.api.permissions.PolicyPermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "suite.api.filters.FilterBackend",
        "suite.api.filters.SearchFilter",
        "suite.api.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "suite.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "suite.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "suite.api.throttling.AnonRateThrottle",
        "suite.api.throttling.UserRateThrottle",
        "suite.api.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        # Tests share one client IP and one Redis across the whole run: generous there; the throttling tests
        # set low rates themselves.
        "anon": env.str("THROTTLE_ANON", default="100000/min" if IS_TEST else "60/min"),
        "user": env.str("THROTTLE_USER", default="100000/min" if IS_TEST else "6000/min"),
        "login": env.str("THROTTLE_LOGIN", default="100000/min" if IS_TEST else "20/min"),
    },
    "DEFAULT_VERSIONING_CLASS": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Troika API",
    "DESCRIPTION": "CRM + SCRM + ERP. Every list is scoped by the caller's company and role; "
    'errors come as {"errors": [{"field", "code", "message"}]}.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Choice sets that share a field name across apps get their own enum names (no collision warnings).
    "ENUM_NAME_OVERRIDES": {
        "TeamKindEnum": "suite.models.tenancy.Team.Kind",
        "ActivityKindEnum": "crm.models.activities.ActivityKind",
        "TicketChannelEnum": "crm.models.tickets.TicketChannel",
        "CustomerSourceEnum": "crm.models.customers.Source",
        "AssignmentRuleKindEnum": "crm.models.leads.AssignmentRule.Kind",
        "ImportTargetEnum": "crm.models.imports.ImportTarget",
        "CustomFieldTargetEnum": "crm.models.customers.CustomFieldTarget",
        "WebFormKindEnum": "crm.models.campaigns.WebFormKind",
        "ContactRoleEnum": "crm.models.opportunities.ContactRole",
        "ContactRoleStanceEnum": "crm.models.opportunities.OpportunityContactRole.Stance",
        "QuoteApprovalLevelEnum": "crm.models.quotes.QuoteApprovalLevel",
        # ERP inventory
        "LocationKindEnum": "erp.models.inventory.LocationKind",
        "MoveKindEnum": "erp.models.inventory.MoveKind",
        "SupplyKindEnum": "erp.models.inventory.SupplyKind",
        "PriceSourceEnum": ["price_list", "list_price"],
        # ERP finance
        "DimensionKindEnum": "erp.models.finance.DimensionKind",
        "JournalKindEnum": "erp.models.finance.JournalKind",
        # ERP receivables, payables and bank
        "InvoiceKindEnum": "erp.models.invoicing.InvoiceKind",
        "InvoiceInputKindEnum": ["out_invoice", "in_invoice"],
        "TaxKindEnum": "erp.models.invoicing.TaxKind",
        "InvoiceStateEnum": "erp.models.invoicing.InvoiceState",
        "PaymentRecordStateEnum": "erp.models.invoicing.PaymentStateChoice",
        "StatementLineStateEnum": "erp.models.bank.StatementLineState",
        # ERP expenses and cash flow
        "CashFlowLineEnum": "erp.models.budgets.CashFlowLine",
        # ERP production
        "PlannedOrderKindEnum": "erp.models.production.PlannedKind",
        # ERP HR and payroll
        "ContractKindEnum": "erp.models.hr.ContractKind",
        "ContributionKindEnum": "erp.models.hr.ContributionKind",
        "PayComponentKindEnum": "erp.models.hr.ComponentKind",
        "PayrollModeEnum": "erp.models.hr.PayrollMode",
        "MemberRoleEnum": "suite.models.tenancy.Role",
        # CRM campaigns and web forms
        "CampaignStatusEnum": "crm.models.campaigns.CampaignStatus",
        "CampaignChannelEnum": "crm.models.campaigns.CampaignChannel",
        "CampaignMemberStatusEnum": "crm.models.campaigns.CampaignMemberStatus",
        "CampaignTouchKindEnum": "crm.models.campaigns.TouchKind",
        "CampaignTouchSourceEnum": "crm.models.campaigns.TouchSource",
        "WebFormFieldEnum": "crm.models.campaigns.WEB_FORM_FIELDS",
        # SCRM
        "ChannelKindEnum": "scrm.models.channels.ChannelKind",
        "MessageKindEnum": "scrm.models.inbox.Message.Kind",
        "MessageDirectionEnum": "scrm.models.inbox.Message.Direction",
        "ConversationStatusEnum": "scrm.models.inbox.Conversation.Status",
        # SCRM communities, cadences, WeCom handover (scrmwecom)
        "CommunityKindEnum": "scrm.models.communities.CommunityKind",
        "CommunityStatusEnum": "scrm.models.communities.Community.Status",
        "CommunityPostKindEnum": "scrm.models.communities.CommunityPost.Kind",
        "CadenceStepKindEnum": "scrm.models.cadences.CadenceStep.Kind",
        "CadenceEnrollmentStatusEnum": "scrm.models.cadences.CadenceEnrollment.Status",
        "HandoverJobKindEnum": "scrm.models.handover.HandoverJob.Kind",
        "HandoverJobStatusEnum": "scrm.models.handover.HandoverJob.Status",
        "HandoverItemKindEnum": "scrm.models.handover.HandoverItem.Kind",
        "HandoverItemStatusEnum": "scrm.models.handover.HandoverItem.Status",
        # SCRM QR campaigns, coupons, UGC (scrmqr)
        "QrCampaignKindEnum": "scrm.models.campaigns.QrCampaignKind",
        "QrCampaignStatusEnum": "scrm.models.campaigns.QrCampaignStatus",
        "QrClaimPayoutEnum": "scrm.models.campaigns.QrClaim.Payout",
        "CouponKindEnum": "scrm.models.coupons.CouponKind",
        "CouponStatusEnum": "scrm.models.coupons.CouponStatus",
        "CouponReasonEnum": "scrm.models.coupons.CouponReason",
        "UgcKindEnum": "scrm.models.ugc.UgcKind",
        "UgcSentimentEnum": "scrm.models.ugc.Sentiment",
    },
}

# The compiled fast path of the CRM's customer list and opportunity create (crm/api/fast.py; same scope, answers
# and errors as the DRF path, which it falls back to for anything unusual): off = every request takes DRF's path.
CRM_API_FAST_PATH = env.bool("CRM_API_FAST_PATH", default=True)

# ---------------------------------------------------------------- audit (django-pghistory)
# Business models opt in with suite.audit.audited: insert, update and delete events recorded by trigger, so
# queryset.update(), bulk writes and raw SQL are recorded too.
PGHISTORY_MIDDLEWARE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

# ---------------------------------------------------------------- Idempotency-Key (suite.api.idempotency)
TROIKA_IDEMPOTENCY_TTL_SECONDS = env.int("TROIKA_IDEMPOTENCY_TTL_SECONDS", default=24 * 3600)
TROIKA_IDEMPOTENCY_LOCK_SECONDS = env.int("TROIKA_IDEMPOTENCY_LOCK_SECONDS", default=300)

# ---------------------------------------------------------------- logging: JSON lines with the request id
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "suite.ops.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s",
            "timestamp": "time",  # ISO 8601 in UTC with its offset: web, worker and gunicorn lines sort together
            "rename_fields": {"levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING" if IS_TEST else "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # Beat sends the outbox relay every second: "sending / received / succeeded" lines at INFO would be
        # three lines a second of nothing. Failures and retries are logged at WARNING/ERROR and still show.
        **{
            name: {"level": env.str("CELERY_TASK_LOG_LEVEL", default="WARNING")}
            for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat")
        },
    },
}

# ---------------------------------------------------------------- operations (suite.ops)
# /metrics: with a token set, only "Authorization: Bearer <token>" is answered; without, only loopback clients.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

TROIKA_VERSION = "0.1.0"

# ---------------------------------------------------------------- SCRM push sends (scrm.services.push_sweep)
# A recipient "sending" longer than this (a killed worker) is re-queued by the beat sweep; keep it far above
# the 10 s send timeout so a slow but live worker is never raced.
SCRM_PUSH_SEND_LEASE_SECONDS = env.int("SCRM_PUSH_SEND_LEASE_SECONDS", default=300)

# ---------------------------------------------------------------- CRM service tickets (crm.services.tickets)
# Links in e-mail to customers (the satisfaction survey) are absolute: the address people reach this site at.
TROIKA_PUBLIC_URL = env.str("TROIKA_PUBLIC_URL", default="http://127.0.0.1:8000")
CRM_TICKET_FOLLOW_UP_DAYS = env.int("CRM_TICKET_FOLLOW_UP_DAYS", default=3)
