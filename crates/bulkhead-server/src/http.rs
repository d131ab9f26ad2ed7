//! Routes, authentication, role checks, body parsing, error responses.
//!
//! Order of refusal for every request: 401 (no / bad token) → 403 (role) →
//! 413 (body too large) → 400 (unreadable / not JSON) → 422 (wrong shape,
//! naming the field) → 404 (unknown strategy / instrument) → the engine's
//! own answer. Nothing reaches the engine unless every check before it
//! passed, so a refused request changes nothing.

use crate::auth::{Role, TokenStore};
use crate::command::{Actor, Command, CommandError, SIGNATURE_HEADER, Scope};
use crate::metrics;
use crate::snapshot::{DecisionKind, LiveEvent, Snapshot};
use crate::{ControlClient, ServerOptions, SubmitError, now_unix_ms};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use bulkhead_provenance::ModuleSignature;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};
use tokio::sync::{broadcast, watch};

pub(crate) mod cluster_view;
pub(crate) mod serve;
mod tokens;

const DASHBOARD_HTML: &str = include_str!("dashboard.html");
const DASHBOARD_JS: &str = include_str!("dashboard.js");
const OPENAPI_JSON: &str = include_str!("openapi.json");

#[derive(Clone)]
pub(crate) struct AppState {
    client: ControlClient,
    tokens: Arc<RwLock<TokenStore>>,
    opts: Arc<ServerOptions>,
    stop: watch::Receiver<bool>,
    /// Token changes one at a time (check, journal, write, swap).
    token_changes: Arc<tokio::sync::Mutex<()>>,
}

impl AppState {
    pub(crate) fn new(
        client: ControlClient,
        tokens: Arc<RwLock<TokenStore>>,
        opts: ServerOptions,
        stop: watch::Receiver<bool>,
    ) -> AppState {
        AppState { client, tokens, opts: Arc::new(opts), stop, token_changes: Arc::default() }
    }
}

/// A refusal: `{"error": "...", "field": "..." | null}` with a status.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    error: String,
    field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>, field: Option<&str>) -> ApiError {
        ApiError { status, error: error.into(), field: field.map(str::to_string) }
    }
    fn bad_request(error: impl Into<String>, field: Option<&str>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, error, field)
    }
    fn unprocessable(field: &str, error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error, Some(field))
    }
    fn not_found(field: &str, error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, error, Some(field))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(json!({ "error": self.error, "field": self.field }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"bulkhead\""));
        }
        r
    }
}

type ApiResult<T = Response> = Result<T, ApiError>;

/// The general router and the reserve's (the same routes behind
/// [`reserve_gate`]).
pub(crate) fn apps(state: AppState) -> serve::Apps {
    let general = router(state.clone());
    let reserve = general.clone().layer(middleware::from_fn_with_state(state.tokens.clone(), reserve_gate));
    serve::Apps { general, reserve }
}

pub(crate) fn router(state: AppState) -> Router {
    let viewer = Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/strategies", get(strategies))
        .route("/api/v1/strategies/{name}", get(strategy))
        .route("/api/v1/positions", get(positions))
        .route("/api/v1/pnl/history", get(pnl_history))
        .route("/api/v1/orders", get(orders))
        .route("/api/v1/decisions", get(decisions))
        .route("/api/v1/faults", get(faults))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/chain/intents", get(chain_intents))
        .route("/api/v1/journal", get(journal))
        .route("/api/v1/stream", get(stream))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics_text))
        .route_layer(middleware::from_fn_with_state(Role::Viewer, require_role));
    let operator = Router::new()
        .route("/api/v1/halt", post(halt))
        .route("/api/v1/reduce", post(reduce))
        .route("/api/v1/resume", post(resume))
        .route("/api/v1/cancel", post(cancel))
        .route("/api/v1/deadman", post(deadman_arm).delete(deadman_disarm))
        .route("/api/v1/deadman/heartbeat", post(deadman_heartbeat))
        .route("/api/v1/strategies/{name}/restart", post(restart))
        .route_layer(middleware::from_fn_with_state(Role::Operator, require_role));
    let admin = Router::new()
        .route("/api/v1/strategies/{name}/limits", post(set_limit))
        .route("/api/v1/strategies/{name}/deploy", post(deploy))
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{name}", delete(tokens::revoke))
        .route_layer(middleware::from_fn_with_state(Role::Admin, require_role));
    Router::new()
        .route("/", get(dashboard))
        .route("/dashboard.js", get(dashboard_js))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(viewer)
        .merge(operator)
        .merge(admin)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

// ---------------------------------------------------------------- middleware

fn is_public(method: &Method, path: &str, st: &AppState) -> bool {
    (method == Method::GET || method == Method::HEAD)
        && (path == "/"
            || path == "/dashboard.js"
            || path == "/healthz"
            || path == "/readyz"
            || (path == "/metrics" && st.opts.metrics_public))
}

/// 401 unless the request carries a valid bearer token; puts the [`Actor`]
/// into the request's extensions.
async fn authenticate(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if is_public(req.method(), req.uri().path(), &st) {
        return next.run(req).await;
    }
    bearer(&st.tokens, req, next).await
}

/// 401 unless the request carries a valid bearer token of `tokens`; puts the
/// [`Actor`] into the request's extensions (shared with the cluster view).
pub(crate) async fn bearer(tokens: &RwLock<TokenStore>, mut req: Request, next: Next) -> Response {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing bearer token: send `Authorization: Bearer <token>`",
            Some("Authorization"),
        )
        .into_response();
    };
    let token = value.to_str().ok().and_then(|v| {
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    });
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "malformed Authorization header: expected `Bearer <token>`",
            Some("Authorization"),
        )
        .into_response();
    };
    let actor = {
        let store = tokens.read().unwrap_or_else(|e| e.into_inner());
        store.verify(token).map(|(name, role)| Actor { name: name.to_string(), role })
    };
    match actor {
        Some(actor) => {
            req.extensions_mut().insert(actor);
            next.run(req).await
        }
        None => ApiError::new(StatusCode::UNAUTHORIZED, "invalid token", Some("Authorization")).into_response(),
    }
}

/// On a reserve connection (the general pool is full): only an operator
/// command with a valid operator / admin token, or a health probe, is
/// served; anything else is 503 and the connection closes.
pub(crate) async fn reserve_gate(State(tokens): State<Arc<RwLock<TokenStore>>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let health =
        (req.method() == Method::GET || req.method() == Method::HEAD) && matches!(path, "/healthz" | "/readyz");
    let command = serve::is_operator_command(req.method(), path)
        && serve::operator_token(&tokens, req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    if health || command {
        if let Some(flag) = req.extensions().get::<serve::ConnInfo>().and_then(|c| c.admitted.as_ref()) {
            flag.store(true, Relaxed);
        }
        return next.run(req).await;
    }
    let mut r = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "connection limit reached: only operator commands (halt, reduce, resume, cancel, restart) with an operator or \
         admin token and health probes are served on this connection; retry later",
        None,
    )
    .into_response();
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// 403 unless the authenticated actor has at least `min`.
async fn require_role(State(min): State<Role>, req: Request, next: Next) -> Response {
    match req.extensions().get::<Actor>() {
        Some(a) if a.role >= min => next.run(req).await,
        Some(a) => ApiError::new(
            StatusCode::FORBIDDEN,
            format!("role `{}` required; token `{}` has role `{}`", min.as_str(), a.name, a.role.as_str()),
            None,
        )
        .into_response(),
        // Only reachable for a public path routed here (metrics_public).
        None if min == Role::Viewer => next.run(req).await,
        None => ApiError::new(StatusCode::UNAUTHORIZED, "missing bearer token", Some("Authorization")).into_response(),
    }
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found("path", format!("no such endpoint: {} {}", req.method(), req.uri().path()))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {} not allowed on {}", req.method(), req.uri().path()),
        None,
    )
}

// ---------------------------------------------------------------- static

async fn dashboard() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], DASHBOARD_HTML).into_response()
}

async fn dashboard_js() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], DASHBOARD_JS).into_response()
}

/// Liveness: the process answers. No data.
async fn healthz() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "ok\n").into_response()
}

/// Readiness, one word: `ready` (200) while the engine is attached and
/// running and its snapshots are fresh; otherwise 503 with `starting` (no
/// snapshot yet), `finished` (the run is over), `stopped` (the engine is
/// gone, e.g. after a journal error) or `stalled` (no snapshot for
/// [`ServerOptions::ready_max_staleness`]), or `cluster_unavailable` (the
/// journal mirror does not acknowledge: new orders are refused).
async fn readyz(State(st): State<AppState>) -> Response {
    let s = st.client.snapshot();
    let age_ms = now_unix_ms().saturating_sub(s.published_unix_ms);
    let word = if st.client.engine_gone() {
        "stopped"
    } else if s.seq == 0 {
        "starting"
    } else if s.engine.phase != "running" {
        "finished"
    } else if u128::from(age_ms) > st.opts.ready_max_staleness.as_millis() {
        "stalled"
    } else if s.journal.mirror.as_ref().is_some_and(|m| !m.available) {
        "cluster_unavailable"
    } else {
        "ready"
    };
    let status = if word == "ready" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{word}\n")).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

async fn metrics_text(State(st): State<AppState>) -> Response {
    let snap = st.client.snapshot();
    let text = metrics::render(&snap, &st.client.metrics, now_unix_ms(), st.client.subscribers());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

// ---------------------------------------------------------------- reads

type Params = Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>;

/// Parse query parameters, refusing any not in `allowed` and any given
/// twice (`?kind=a&kind=b` has no single meaning).
fn params(q: Params, allowed: &[&str]) -> ApiResult<BTreeMap<String, String>> {
    let Query(pairs) = q.map_err(|e| ApiError::bad_request(format!("malformed query string: {e}"), None))?;
    let mut out = BTreeMap::new();
    for (k, v) in pairs {
        if !allowed.contains(&k.as_str()) {
            return Err(ApiError::unprocessable(
                &k,
                format!("unknown query parameter `{k}` (allowed: {})", allowed.join(", ")),
            ));
        }
        if out.contains_key(&k) {
            return Err(ApiError::unprocessable(&k, format!("query parameter `{k}` given more than once")));
        }
        out.insert(k, v);
    }
    Ok(out)
}

/// Every fault kind the sandbox and the engine journal (`Fault::kind`, and
/// `guest_error` for a native strategy); `GET /api/v1/faults?kind=` takes
/// only these.
pub(crate) const FAULT_KINDS: &[&str] = &bulkhead_sandbox::FAULT_KINDS;

fn check_strategy(snap: &Snapshot, name: &str, field: &str) -> ApiResult<()> {
    // Before the first publish there is nothing to check against; the
    // engine answers for itself.
    if snap.seq == 0 || snap.strategies.iter().any(|s| s.name == name) {
        Ok(())
    } else {
        Err(ApiError::not_found(field, format!("unknown strategy `{name}`")))
    }
}

fn check_instrument(snap: &Snapshot, symbol: &str, field: &str) -> ApiResult<()> {
    if snap.seq == 0 || snap.instruments.iter().any(|i| i.symbol == symbol) {
        Ok(())
    } else {
        Err(ApiError::not_found(field, format!("unknown instrument `{symbol}`")))
    }
}

fn limit_param(q: &BTreeMap<String, String>, default: usize, max: usize) -> ApiResult<usize> {
    match q.get("limit") {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::unprocessable("limit", format!("limit must be an integer from 1 to {max}, got `{v}`"))),
        },
    }
}

/// `from_ns` / `to_ns`: an inclusive event-time window (ns).
fn time_window(q: &BTreeMap<String, String>) -> ApiResult<(u64, u64)> {
    let bound = |name: &str, default: u64| match q.get(name) {
        None => Ok(default),
        Some(v) => v.parse::<u64>().map_err(|_| {
            ApiError::unprocessable(
                name,
                format!("`{name}` must be an event time in ns (an unsigned integer), got `{v}`"),
            )
        }),
    };
    // `from_ns` after `to_ns` is an empty window (the description cannot
    // relate two parameters, so it is not an error).
    Ok((bound("from_ns", 0)?, bound("to_ns", u64::MAX)?))
}

/// `reason`: a reason name exactly (`R2_MAX_ORDER_QTY`) or its code in
/// decimal (`201`) — the enum `/openapi.json` lists.
fn reason_param(q: &BTreeMap<String, String>) -> ApiResult<Option<u16>> {
    let Some(v) = q.get("reason") else { return Ok(None) };
    let found =
        bulkhead_abi::Reason::ALL.iter().copied().find(|r| r.name() == v.as_str() || r.code().to_string() == *v);
    match found {
        Some(r) => Ok(Some(r.code())),
        None => Err(ApiError::unprocessable(
            "reason",
            format!("unknown reason `{v}`: give a reason name such as `R2_MAX_ORDER_QTY` or its numeric code"),
        )),
    }
}

async fn status(State(st): State<AppState>) -> Response {
    let s = st.client.snapshot();
    Json(json!({
        "seq": s.seq,
        "published_unix_ms": s.published_unix_ms,
        "event_time_ns": s.event_time_ns,
        "engine": s.engine,
        "global_state": s.global_state,
        "instruments": s.instruments,
        "pnl": s.pnl,
        "journal": s.journal,
    }))
    .into_response()
}

async fn whoami(actor: Option<Extension<Actor>>) -> Response {
    match actor {
        Some(Extension(a)) => Json(json!({ "name": a.name, "role": a.role })).into_response(),
        None => Json(json!({ "name": null, "role": null })).into_response(),
    }
}

async fn strategies(State(st): State<AppState>) -> Response {
    let s = st.client.snapshot();
    Json(json!({ "seq": s.seq, "global_state": s.global_state, "strategies": s.strategies })).into_response()
}

async fn strategy(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult {
    let s = st.client.snapshot();
    let Some(found) = s.strategies.iter().find(|x| x.name == name) else {
        return Err(ApiError::not_found("name", format!("unknown strategy `{name}`")));
    };
    let positions: Vec<_> = s.positions.iter().filter(|p| p.strategy == name).collect();
    let orders: Vec<_> = s.orders.iter().filter(|o| o.strategy == name).collect();
    Ok(Json(json!({ "seq": s.seq, "strategy": found, "positions": positions, "open_orders": orders })).into_response())
}

async fn positions(State(st): State<AppState>, q: Params) -> ApiResult {
    let q = params(q, &["strategy"])?;
    let s = st.client.snapshot();
    if let Some(name) = q.get("strategy") {
        check_strategy(&s, name, "strategy")?;
    }
    let rows: Vec<_> = s.positions.iter().filter(|p| q.get("strategy").is_none_or(|n| &p.strategy == n)).collect();
    Ok(Json(json!({ "seq": s.seq, "pnl": s.pnl, "positions": rows })).into_response())
}

/// Net PnL over event time since the run's first event (bounded,
/// downsampled: `snapshot::PnlHistory`), for the dashboard's chart.
async fn pnl_history(State(st): State<AppState>, q: Params) -> ApiResult {
    params(q, &[])?;
    let s = st.client.snapshot();
    Ok(Json(json!({ "seq": s.seq, "event_time_ns": s.event_time_ns, "history": &*s.pnl_history })).into_response())
}

async fn orders(State(st): State<AppState>, q: Params) -> ApiResult {
    let q = params(q, &["strategy"])?;
    let s = st.client.snapshot();
    if let Some(name) = q.get("strategy") {
        check_strategy(&s, name, "strategy")?;
    }
    let rows: Vec<_> = s.orders.iter().filter(|o| q.get("strategy").is_none_or(|n| &o.strategy == n)).collect();
    Ok(Json(json!({ "seq": s.seq, "orders": rows })).into_response())
}

/// Newest first. Filters: `strategy`, `kind` (accept | reject), `reason`
/// (name or code), `from_ns` / `to_ns` (event time, inclusive), `limit`.
async fn decisions(State(st): State<AppState>, q: Params) -> ApiResult {
    let q = params(q, &["strategy", "kind", "reason", "from_ns", "to_ns", "limit"])?;
    let s = st.client.snapshot();
    if let Some(name) = q.get("strategy") {
        check_strategy(&s, name, "strategy")?;
    }
    let kind =
        match q.get("kind") {
            None => None,
            Some(k) => Some(DecisionKind::parse(k).ok_or_else(|| {
                ApiError::unprocessable("kind", format!("kind must be `accept` or `reject`, got `{k}`"))
            })?),
        };
    let reason = reason_param(&q)?;
    let (from, to) = time_window(&q)?;
    let limit = limit_param(&q, 100, crate::MAX_DECISIONS)?;
    let rows: Vec<&crate::DecisionRecord> = s
        .decisions
        .iter()
        .rev()
        .map(|d| &**d)
        .filter(|d| q.get("strategy").is_none_or(|n| &d.strategy == n))
        .filter(|d| kind.is_none_or(|k| d.kind == k))
        .filter(|d| reason.is_none_or(|r| d.reason_code == r))
        .filter(|d| (from..=to).contains(&d.ts_ns))
        .take(limit)
        .collect();
    Ok(Json(json!({ "seq": s.seq, "decisions": rows })).into_response())
}

/// Newest first. Filters: `strategy`, `kind` (fault kind, e.g.
/// `fuel_exhausted`), `from_ns` / `to_ns`, `limit`.
async fn faults(State(st): State<AppState>, q: Params) -> ApiResult {
    let q = params(q, &["strategy", "kind", "from_ns", "to_ns", "limit"])?;
    let s = st.client.snapshot();
    if let Some(name) = q.get("strategy") {
        check_strategy(&s, name, "strategy")?;
    }
    if let Some(k) = q.get("kind")
        && !FAULT_KINDS.contains(&k.as_str())
    {
        return Err(ApiError::unprocessable(
            "kind",
            format!("unknown fault kind `{k}` (one of: {})", FAULT_KINDS.join(", ")),
        ));
    }
    let (from, to) = time_window(&q)?;
    let limit = limit_param(&q, 100, crate::MAX_RECENT)?;
    let rows: Vec<&crate::FaultRecord> = s
        .faults
        .iter()
        .rev()
        .map(|f| &**f)
        .filter(|f| q.get("strategy").is_none_or(|n| &f.strategy == n))
        .filter(|f| q.get("kind").is_none_or(|k| &f.kind == k))
        .filter(|f| (from..=to).contains(&f.ts_ns))
        .take(limit)
        .collect();
    Ok(Json(json!({ "seq": s.seq, "faults": rows })).into_response())
}

/// Newest first. Filters: `strategy` (the alert's strategy or its other
/// one), `rule` (e.g. `quote_stuffing`), `from_ns` / `to_ns`, `limit`.
async fn alerts(State(st): State<AppState>, q: Params) -> ApiResult {
    let q = params(q, &["strategy", "rule", "from_ns", "to_ns", "limit"])?;
    let s = st.client.snapshot();
    if let Some(name) = q.get("strategy") {
        check_strategy(&s, name, "strategy")?;
    }
    let rules: Vec<&str> = bulkhead_surveillance::Rule::ALL.iter().map(|r| r.name()).collect();
    if let Some(r) = q.get("rule")
        && !rules.contains(&r.as_str())
    {
        return Err(ApiError::unprocessable("rule", format!("unknown rule `{r}` (one of: {})", rules.join(", "))));
    }
    let (from, to) = time_window(&q)?;
    let limit = limit_param(&q, 100, crate::MAX_RECENT)?;
    let rows: Vec<&crate::AlertRecord> = s
        .alerts
        .iter()
        .rev()
        .map(|a| &**a)
        .filter(|a| q.get("strategy").is_none_or(|n| &a.strategy == n || a.other_strategy.as_ref() == Some(n)))
        .filter(|a| q.get("rule").is_none_or(|r| a.rule == r))
        .filter(|a| (from..=to).contains(&a.ts_ns))
        .take(limit)
        .collect();
    Ok(Json(json!({ "seq": s.seq, "dropped": s.alerts_dropped, "alerts": rows })).into_response())
}

/// Newest first (by each intent's first record). Filters: `strategy`,
/// `outcome` (`pending`, `rejected`, … — [`crate::ChainOutcome`]), `limit`.
async fn chain_intents(State(st): State<AppState>, q: Params) -> ApiResult {
    let q = params(q, &["strategy", "outcome", "limit"])?;
    let s = st.client.snapshot();
    if let Some(name) = q.get("strategy") {
        check_strategy(&s, name, "strategy")?;
    }
    let outcome = match q.get("outcome") {
        None => None,
        Some(o) => Some(crate::ChainOutcome::parse(o).ok_or_else(|| {
            let all: Vec<&str> = crate::ChainOutcome::ALL.iter().map(|o| o.name()).collect();
            ApiError::unprocessable("outcome", format!("unknown outcome `{o}` (one of: {})", all.join(", ")))
        })?),
    };
    let limit = limit_param(&q, 100, crate::MAX_RECENT)?;
    let rows: Vec<&crate::ChainIntentRecord> = s
        .chain_intents
        .iter()
        .rev()
        .map(|i| &**i)
        .filter(|i| q.get("strategy").is_none_or(|n| &i.strategy == n))
        .filter(|i| outcome.is_none_or(|o| i.outcome == o))
        .take(limit)
        .collect();
    Ok(Json(json!({ "seq": s.seq, "dropped": s.chain_intents_dropped, "intents": rows })).into_response())
}

async fn journal(State(st): State<AppState>) -> Response {
    let s = st.client.snapshot();
    Json(json!({ "seq": s.seq, "journal": s.journal })).into_response()
}

// ---------------------------------------------------------------- stream

fn event_name(ev: &LiveEvent) -> &'static str {
    match ev {
        LiveEvent::Fill { .. } => "fill",
        LiveEvent::Reject { .. } => "reject",
        LiveEvent::Fault { .. } => "fault",
        LiveEvent::Alert(_) => "alert",
        LiveEvent::StateChange { .. } => "state_change",
        LiveEvent::Command { .. } => "command",
        LiveEvent::Lagged { .. } => "lagged",
    }
}

/// Server-sent events: `hello` first, then one event per [`LiveEvent`]
/// (`event:` = its type, `data:` = its JSON), `lagged` with the number of
/// events this subscriber missed, and comments as keep-alive.
async fn stream(State(st): State<AppState>) -> Response {
    let rx = st.client.subscribe();
    let hello = Event::default().event("hello").data(json!({ "seq": st.client.snapshot().seq }).to_string());
    let metrics = st.client.metrics.clone();
    let init = (rx, st.stop.clone(), metrics, Some(hello));
    let s = futures_util::stream::unfold(init, |(mut rx, mut stop, metrics, hello)| async move {
        if let Some(h) = hello {
            return Some((Ok::<_, Infallible>(h), (rx, stop, metrics, None)));
        }
        if *stop.borrow() {
            return None;
        }
        let ev = tokio::select! {
            r = rx.recv() => match r {
                Ok(ev) => Event::default()
                    .event(event_name(&ev))
                    .data(serde_json::to_string(&*ev).unwrap_or_else(|_| "{}".into())),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    metrics.stream_dropped.fetch_add(n, Relaxed);
                    let ev = LiveEvent::Lagged { dropped: n };
                    Event::default().event("lagged").data(serde_json::to_string(&ev).unwrap_or_else(|_| "{}".into()))
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            },
            _ = stop.wait_for(|s| *s) => return None,
        };
        Some((Ok(ev), (rx, stop, metrics, None)))
    });
    // A keep-alive comment well inside the idle timeout, so a quiet stream
    // is never taken for an idle connection.
    let every =
        (st.opts.idle_timeout / 3).clamp(std::time::Duration::from_millis(100), std::time::Duration::from_secs(15));
    Sse::new(s).keep_alive(KeepAlive::new().interval(every)).into_response()
}

// ---------------------------------------------------------------- bodies

async fn read_body(st: &AppState, headers: &HeaderMap, body: Body, limit: usize) -> ApiResult<Bytes> {
    read_body_within(st.opts.body_timeout, headers, body, limit).await
}

/// A request body of at most `limit` bytes, arriving within `timeout`.
pub(crate) async fn read_body_within(
    timeout: std::time::Duration,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> ApiResult<Bytes> {
    let too_large = || {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body larger than {limit} bytes"), Some("body"))
    };
    if let Some(len) = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(too_large());
    }
    let read = tokio::time::timeout(timeout, Limited::new(body, limit).collect());
    let Ok(read) = read.await else {
        return Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within {} s", timeout.as_secs_f64()),
            Some("body"),
        ));
    };
    match read {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::bad_request(format!("could not read the request body: {e}"), Some("body"))),
    }
}

/// A JSON value in which no object names a key twice (serde_json alone
/// keeps the last). The first duplicate is left in `dup`.
struct NoDuplicates<'a>(&'a std::cell::RefCell<Option<String>>);

impl<'de> serde::de::DeserializeSeed<'de> for NoDuplicates<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicates<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(NoDuplicates(self.0))? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                let msg = format!("duplicate key `{k}`");
                *self.0.borrow_mut() = Some(k);
                return Err(serde::de::Error::custom(msg));
            }
            let v = map.next_value_seed(NoDuplicates(self.0))?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// Parse JSON: 400 if it is not JSON, 422 naming the key if an object
/// repeats a key.
fn parse_json(bytes: &[u8]) -> ApiResult<Value> {
    use serde::de::DeserializeSeed;
    let dup = std::cell::RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = NoDuplicates(&dup).deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| match dup.borrow_mut().take() {
        Some(k) => ApiError::unprocessable(&k, format!("key `{k}` appears more than once in the JSON body")),
        None => ApiError::bad_request(
            format!("malformed JSON at line {} column {}: {e}", e.line(), e.column()),
            Some("body"),
        ),
    })
}

/// Parse a JSON object body: 400 if it is not JSON, 422 if not an object
/// or if it repeats a key.
fn json_object(bytes: &[u8]) -> ApiResult<Map<String, Value>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("empty body: expected a JSON object", Some("body")));
    }
    let v = parse_json(bytes)?;
    match v {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::unprocessable("body", format!("expected a JSON object, got {}", type_name(&other)))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn only_fields(m: &Map<String, Value>, allowed: &[&str]) -> ApiResult<()> {
    if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::unprocessable(k, format!("unknown field `{k}` (allowed: {})", allowed.join(", "))));
    }
    Ok(())
}

fn string_field<'a>(m: &'a Map<String, Value>, field: &str) -> ApiResult<&'a str> {
    match m.get(field) {
        None => Err(ApiError::unprocessable(field, format!("missing field `{field}`"))),
        Some(Value::String(s)) if s.is_empty() => {
            Err(ApiError::unprocessable(field, format!("`{field}` must not be empty")))
        }
        Some(Value::String(s)) => Ok(s),
        Some(other) => {
            Err(ApiError::unprocessable(field, format!("`{field}` must be a string, got {}", type_name(other))))
        }
    }
}

/// `{"scope":"global"}` | `{"scope":"strategy","name":…}` | `{"scope":"instrument","symbol":…}`
fn parse_scope(bytes: &[u8], snap: &Snapshot) -> ApiResult<Scope> {
    let m = json_object(bytes)?;
    let scope = string_field(&m, "scope")?;
    let scope = match scope {
        "global" => {
            only_fields(&m, &["scope"])?;
            Scope::Global
        }
        "strategy" => {
            only_fields(&m, &["scope", "name"])?;
            let name = string_field(&m, "name")?;
            check_strategy(snap, name, "name")?;
            Scope::Strategy(name.to_string())
        }
        "instrument" => {
            only_fields(&m, &["scope", "symbol"])?;
            let symbol = string_field(&m, "symbol")?;
            check_instrument(snap, symbol, "symbol")?;
            Scope::Instrument(symbol.to_string())
        }
        other => {
            return Err(ApiError::unprocessable(
                "scope",
                format!("scope must be `global`, `strategy` or `instrument`, got `{other}`"),
            ));
        }
    };
    Ok(scope)
}

fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(s.contains('.') && frac.is_empty())
}

// ---------------------------------------------------------------- commands

/// The status (and field) of the engine's refusal of a command.
fn refusal_status(e: &CommandError) -> (StatusCode, Option<String>) {
    match e {
        CommandError::NotFound { what, .. } => (StatusCode::NOT_FOUND, Some(what.clone())),
        CommandError::Invalid { field, .. } => (StatusCode::UNPROCESSABLE_ENTITY, Some(field.clone())),
        CommandError::Conflict(_) => (StatusCode::CONFLICT, None),
        CommandError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
    }
}

/// The status of a command that got no answer from the engine.
fn submit_error_status(e: &SubmitError) -> StatusCode {
    match e {
        SubmitError::EngineGone | SubmitError::QueueFull => StatusCode::SERVICE_UNAVAILABLE,
        SubmitError::Timeout => StatusCode::GATEWAY_TIMEOUT,
        SubmitError::Dropped => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Hand a command to the engine and turn its answer into a response.
async fn submit(st: &AppState, actor: Actor, command: Command, target: Value) -> ApiResult {
    submit_within(st, actor, command, target, st.opts.command_timeout).await
}

/// [`submit`] waiting at most `timeout` for the engine's answer.
async fn submit_within(
    st: &AppState,
    actor: Actor,
    command: Command,
    target: Value,
    timeout: std::time::Duration,
) -> ApiResult {
    let kind = command.kind();
    let result = st.client.submit(command, actor.clone(), timeout).await;
    let (status, body, ok, message) = match result {
        Ok(Ok(message)) => {
            st.client.metrics.command_answered(kind, "ok");
            let body =
                json!({ "ok": true, "command": kind, "target": target, "actor": actor.name, "message": message });
            (StatusCode::OK, body, true, message)
        }
        Ok(Err(e)) => {
            st.client.metrics.command_answered(kind, "refused");
            let (status, field) = refusal_status(&e);
            let message = e.to_string();
            (status, json!({ "error": message, "field": field }), false, message)
        }
        Err(e) => {
            st.client.metrics.command_answered(kind, "error");
            let message = e.to_string();
            (submit_error_status(&e), json!({ "error": message, "field": null }), false, message)
        }
    };
    st.client.emit(LiveEvent::Command { actor, command: format!("{kind} {target}"), ok, message });
    Ok((status, Json(body)).into_response())
}

async fn scope_command(
    st: AppState,
    actor: Actor,
    headers: HeaderMap,
    body: Body,
    make: fn(Scope) -> Command,
) -> ApiResult {
    let bytes = read_body(&st, &headers, body, st.opts.json_body_limit).await?;
    let scope = parse_scope(&bytes, &st.client.snapshot())?;
    let target = serde_json::to_value(&scope).unwrap_or(Value::Null);
    submit(&st, actor, make(scope), target).await
}

async fn halt(State(st): State<AppState>, Extension(a): Extension<Actor>, h: HeaderMap, b: Body) -> ApiResult {
    scope_command(st, a, h, b, Command::Halt).await
}
async fn reduce(State(st): State<AppState>, Extension(a): Extension<Actor>, h: HeaderMap, b: Body) -> ApiResult {
    scope_command(st, a, h, b, Command::Reduce).await
}
async fn resume(State(st): State<AppState>, Extension(a): Extension<Actor>, h: HeaderMap, b: Body) -> ApiResult {
    scope_command(st, a, h, b, Command::Resume).await
}
async fn cancel(State(st): State<AppState>, Extension(a): Extension<Actor>, h: HeaderMap, b: Body) -> ApiResult {
    scope_command(st, a, h, b, Command::MassCancel).await
}

/// Arm (or re-arm) the sender's dead-man switch: `{"scope": {<as for
/// halt>}, "timeout_ms": N, "halt": bool}` (`crate::deadman`).
async fn deadman_arm(State(st): State<AppState>, Extension(a): Extension<Actor>, h: HeaderMap, b: Body) -> ApiResult {
    let bytes = read_body(&st, &h, b, st.opts.json_body_limit).await?;
    let m = json_object(&bytes)?;
    only_fields(&m, &["scope", "timeout_ms", "halt"])?;
    let scope_obj = match m.get("scope") {
        Some(v @ Value::Object(_)) => serde_json::to_vec(v).unwrap_or_default(),
        _ => return Err(ApiError::unprocessable("scope", "`scope` must be an object, as the body of /api/v1/halt")),
    };
    let scope = parse_scope(&scope_obj, &st.client.snapshot())?;
    // JSON Schema's `integer` includes `7467.0`: take a whole-number float too.
    let whole = |v: &Value| {
        v.as_u64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && (0.0..=1e15).contains(f)).map(|f| f as u64))
    };
    let timeout_ms = match m.get("timeout_ms").and_then(whole) {
        Some(t) if (crate::deadman::MIN_TIMEOUT_MS..=crate::deadman::MAX_TIMEOUT_MS).contains(&t) => t,
        _ => {
            return Err(ApiError::unprocessable(
                "timeout_ms",
                format!(
                    "timeout_ms must be an integer from {} to {} (milliseconds)",
                    crate::deadman::MIN_TIMEOUT_MS,
                    crate::deadman::MAX_TIMEOUT_MS
                ),
            ));
        }
    };
    let halt = match m.get("halt") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::unprocessable("halt", "halt must be true or false")),
    };
    let target =
        json!({ "scope": serde_json::to_value(&scope).unwrap_or(Value::Null), "timeout_ms": timeout_ms, "halt": halt });
    let change = crate::command::DeadmanChange::Arm { scope, halt, timeout_ms };
    submit(&st, a, Command::Deadman(change), target).await
}

async fn deadman_heartbeat(State(st): State<AppState>, Extension(a): Extension<Actor>) -> ApiResult {
    submit(&st, a, Command::Deadman(crate::command::DeadmanChange::Heartbeat), json!({})).await
}

async fn deadman_disarm(State(st): State<AppState>, Extension(a): Extension<Actor>) -> ApiResult {
    submit(&st, a, Command::Deadman(crate::command::DeadmanChange::Disarm), json!({})).await
}

async fn restart(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    check_strategy(&st.client.snapshot(), &name, "name")?;
    let bytes = read_body(&st, &headers, body, st.opts.json_body_limit).await?;
    if !bytes.iter().all(u8::is_ascii_whitespace) {
        only_fields(&json_object(&bytes)?, &[])?;
    }
    let target = json!({ "strategy": name });
    submit(&st, actor, Command::Restart { strategy: name }, target).await
}

/// Body `{"field": "max_order_qty", "value": "2.5"}`: the value is a decimal
/// string, or a JSON integer (exact); a JSON number with a fraction or an
/// exponent is refused, since JSON parsers read it as a binary float and
/// `1234567890.12345678` would arrive as `1234567890.1234567`.
async fn set_limit(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let snap = st.client.snapshot();
    check_strategy(&snap, &name, "name")?;
    let bytes = read_body(&st, &headers, body, st.opts.json_body_limit).await?;
    let m = json_object(&bytes)?;
    only_fields(&m, &["field", "value"])?;
    let field = string_field(&m, "field")?;
    if let Some(s) = snap.strategies.iter().find(|s| s.name == name)
        && !s.limits.is_empty()
        && !s.limits.contains_key(field)
    {
        let known: Vec<&str> = s.limits.keys().map(String::as_str).collect();
        return Err(ApiError::unprocessable(
            "field",
            format!("unknown limit `{field}` for `{name}` (known: {})", known.join(", ")),
        ));
    }
    let value = match m.get("value") {
        None => return Err(ApiError::unprocessable("value", "missing field `value`")),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(Value::Number(_)) => {
            return Err(ApiError::unprocessable(
                "value",
                "`value` must be a decimal string such as \"2.5\" (or a whole JSON number): a JSON number with a \
                 fraction or an exponent is read as a binary float and loses digits",
            ));
        }
        Some(Value::String(s)) => s.trim().to_string(),
        Some(other) => {
            return Err(ApiError::unprocessable(
                "value",
                format!("`value` must be a decimal string or a whole number, got {}", type_name(other)),
            ));
        }
    };
    if !is_decimal(&value) {
        return Err(ApiError::unprocessable("value", format!("`value` must be a plain decimal number, got `{value}`")));
    }
    let target = json!({ "strategy": name, "field": field, "value": value });
    let cmd = Command::SetLimit { strategy: name, field: field.to_string(), value };
    submit(&st, actor, cmd, target).await
}

/// Body: the wasm module's bytes (`application/wasm` or `application/octet-stream`).
/// Optional header [`SIGNATURE_HEADER`]: the module's signature (required
/// when the run has `run.trusted_keys`).
async fn deploy(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    check_strategy(&st.client.snapshot(), &name, "name")?;
    let bytes = read_body(&st, &headers, body, st.opts.deploy_body_limit).await?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request("empty body: expected the wasm module's bytes", Some("body")));
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(ApiError::unprocessable("body", "not a wasm module (missing the `\\0asm` magic)"));
    }
    if bytes[4..8] != [1, 0, 0, 0] {
        return Err(ApiError::unprocessable("body", "unsupported wasm binary version (expected 1: a core module)"));
    }
    let module_hash = blake3::hash(&bytes);
    let signature = match headers.get(SIGNATURE_HEADER) {
        None => None,
        Some(v) => {
            let text = v.to_str().map_err(|_| {
                ApiError::unprocessable(SIGNATURE_HEADER, "not ASCII text: expected the .sig file's lines on one line")
            })?;
            let sig = ModuleSignature::parse_line(SIGNATURE_HEADER, text)
                .map_err(|e| ApiError::unprocessable(SIGNATURE_HEADER, e.to_string()))?;
            if sig.module_hash != *module_hash.as_bytes() {
                return Err(ApiError::unprocessable(
                    SIGNATURE_HEADER,
                    format!(
                        "the signature is for module blake3 {}, the body is module blake3 {}",
                        hex::encode(sig.module_hash),
                        module_hash.to_hex()
                    ),
                ));
            }
            Some(sig)
        }
    };
    let mut target = json!({
        "strategy": name,
        "module_blake3": module_hash.to_hex().to_string(),
        "module_len": bytes.len(),
    });
    if let Some(sig) = &signature {
        target["signer"] = json!(sig.signer);
        target["public_key"] = json!(hex::encode(sig.public_key));
    }
    // The engine compiles the module off its thread (under the runtime's
    // compile budget) and answers once it is applied or refused.
    let cmd = Command::Deploy { strategy: name, module_bytes: bytes.to_vec(), signature };
    submit_within(&st, actor, cmd, target, st.opts.deploy_timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/openapi.json` lists exactly the values the server accepts.
    #[test]
    fn openapi_enums_are_the_servers() {
        let api: Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        let param = |path: &str, name: &str| -> Value {
            let ps = api["paths"][path]["get"]["parameters"].as_array().unwrap();
            ps.iter().find(|p| p["name"] == name).unwrap()["schema"]["enum"].clone()
        };
        let mut reasons: Vec<String> = Vec::new();
        for r in bulkhead_abi::Reason::ALL {
            reasons.push(r.name().to_string());
            reasons.push(r.code().to_string());
        }
        assert_eq!(param("/api/v1/decisions", "reason"), json!(reasons));
        assert_eq!(param("/api/v1/faults", "kind"), json!(FAULT_KINDS));
        let rules: Vec<&str> = bulkhead_surveillance::Rule::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(param("/api/v1/alerts", "rule"), json!(rules));
        assert_eq!(param("/api/v1/decisions", "kind"), json!(["accept", "reject"]));
        let outcomes: Vec<&str> = crate::ChainOutcome::ALL.iter().map(|o| o.name()).collect();
        assert_eq!(param("/api/v1/chain/intents", "outcome"), json!(outcomes));
    }

    /// Every fault the sandbox can raise has a kind `?kind=` accepts.
    #[test]
    fn fault_kinds_are_complete() {
        use bulkhead_sandbox::Fault as F;
        let all = [
            F::FuelExhausted { limit: 0 },
            F::Deadline { limit_us: 0 },
            F::MemoryLimit { requested: 0, limit: 0 },
            F::TableLimit { requested: 0, limit: 0 },
            F::StackOverflow { limit_bytes: 0 },
            F::Trap { code: String::new() },
            F::HostCallBudget { limit: 0 },
            F::LogRate { limit_per_sec: 0 },
            F::BadPointer { call: "", ptr: 0, len: 0, memory_size: 0 },
            F::AbiVersion { found: 0, expected: 0 },
            F::MissingBuffer,
            F::GuestError { callback: "", code: 0 },
            F::Instantiate { message: String::new() },
            F::Budget { kind: "event_fuel", unit: "", used: 0, limit: 0 },
            F::Budget { kind: "event_host_calls", unit: "", used: 0, limit: 0 },
            F::Budget { kind: "event_callbacks", unit: "", used: 0, limit: 0 },
            F::Budget { kind: "journal_bytes", unit: "", used: 0, limit: 0 },
            F::Budget { kind: "journal_rate", unit: "", used: 0, limit: 0 },
            F::Budget { kind: "inbox_overflow", unit: "", used: 0, limit: 0 },
        ];
        for f in &all {
            // A new variant must be added above (this match is exhaustive).
            match f {
                F::FuelExhausted { .. }
                | F::Deadline { .. }
                | F::MemoryLimit { .. }
                | F::TableLimit { .. }
                | F::StackOverflow { .. }
                | F::Trap { .. }
                | F::HostCallBudget { .. }
                | F::LogRate { .. }
                | F::BadPointer { .. }
                | F::AbiVersion { .. }
                | F::MissingBuffer
                | F::GuestError { .. }
                | F::Instantiate { .. } => {}
                F::Budget { kind, .. } => assert!(bulkhead_sandbox::BUDGET_KINDS.contains(kind)),
            }
            assert!(FAULT_KINDS.contains(&f.kind()), "{}", f.kind());
        }
        assert_eq!(all.len(), FAULT_KINDS.len());
    }

    #[test]
    fn duplicate_keys_are_named() {
        let e = json_object(br#"{"a":1,"b":{"c":1,"c":2}}"#).unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (StatusCode::UNPROCESSABLE_ENTITY, Some("c")));
        let e = json_object(br#"{"a":1,"a":1}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("a"));
        let e = json_object(br#"{"a":1} x"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(json_object(br#"{"a":[1,{"b":2}],"c":"d"}"#).unwrap().len(), 2);
    }

    #[test]
    fn decimals() {
        for ok in ["1", "0.5", "-3", "10.25", "0"] {
            assert!(is_decimal(ok), "{ok}");
        }
        for bad in ["", ".5", "1.", "1e3", "abc", "--1", "1.2.3", "NaN"] {
            assert!(!is_decimal(bad), "{bad}");
        }
    }

    #[test]
    fn scope_parsing_names_the_field() {
        let snap = Snapshot::default();
        assert_eq!(parse_scope(br#"{"scope":"global"}"#, &snap).unwrap(), Scope::Global);
        assert_eq!(parse_scope(br#"{"scope":"strategy","name":"mm"}"#, &snap).unwrap(), Scope::Strategy("mm".into()));
        let e = parse_scope(br#"{"scope":"strategy","name":5}"#, &snap).unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (StatusCode::UNPROCESSABLE_ENTITY, Some("name")));
        let e = parse_scope(br#"{"scope":"galaxy"}"#, &snap).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("scope"));
        let e = parse_scope(br#"{"scope":"global","extra":1}"#, &snap).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("extra"));
        let e = parse_scope(br#"{"scope":"#, &snap).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = parse_scope(b"[1]", &snap).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}
