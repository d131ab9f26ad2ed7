//! The cluster view's routes (`bulkhead cluster serve`, issue 18): one API
//! and dashboard over every node of a cluster, served with the run control
//! plane's tokens, roles, security headers and connection bounds.
//!
//! | route | role | answer |
//! |---|---|---|
//! | `GET /` , `GET /cluster.js` | public (no data) | the dashboard (asks for a token) |
//! | `GET /healthz` | public | `ok` |
//! | `GET /api/v1/whoami` | viewer | the token's name and role |
//! | `GET /api/v1/cluster/nodes` | viewer | every node's latest status, its age, stale or not |
//! | `GET /api/v1/cluster/streams` | viewer | every stream and its consumers' lag |
//! | `GET /metrics` | viewer | Prometheus text, label `node` per node |
//! | `POST /api/v1/cluster/kill` | operator | `{"scope":"all"}` or `{"scope":"strategy","name":N}`, `"reason"`: a kill order every node applies as a halt |
//!
//! **Must never:** hold cluster state of its own (it asks the
//! [`ClusterSource`]) or wait on NATS on the async workers (a kill is
//! published on a blocking thread).

use super::{ApiError, ApiResult, bearer, json_object, only_fields, read_body_within, require_role, security_headers};
use crate::ServerOptions;
use crate::auth::{Role, TokenStore};
use crate::command::Actor;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::Value;
use std::sync::{Arc, RwLock};

const CLUSTER_HTML: &str = include_str!("../cluster.html");
const CLUSTER_JS: &str = include_str!("../cluster.js");

/// What a kill order applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KillTarget {
    /// Every strategy of every node.
    All,
    /// One strategy, on whichever node runs it.
    Strategy(String),
}

/// Why a kill order was not published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KillRefusal {
    /// A field of the order is not acceptable (422, naming it).
    Invalid { field: String, problem: String },
    /// The cluster did not take it (503).
    Unavailable(String),
}

/// The cluster as the view sees it (implemented over NATS by the CLI with
/// `bulkhead-cluster`'s view). Reads return what was last polled, at once.
pub trait ClusterSource: Send + Sync + 'static {
    /// `GET /api/v1/cluster/nodes`.
    fn nodes(&self) -> Value;
    /// `GET /api/v1/cluster/streams`.
    fn streams(&self) -> Value;
    /// `GET /metrics`.
    fn metrics(&self) -> String;
    /// Publish a kill order; blocks until the cluster acknowledged it.
    fn kill(&self, target: KillTarget, actor: &str, reason: &str) -> Result<Value, KillRefusal>;
}

#[derive(Clone)]
struct ViewState {
    source: Arc<dyn ClusterSource>,
    tokens: Arc<RwLock<TokenStore>>,
    opts: Arc<ServerOptions>,
}

/// The general router and the reserve's (kill orders and health probes only).
pub(crate) fn apps(
    source: Arc<dyn ClusterSource>,
    tokens: Arc<RwLock<TokenStore>>,
    options: ServerOptions,
) -> super::serve::Apps {
    let state = ViewState { source, tokens: tokens.clone(), opts: Arc::new(options) };
    let general = router(state);
    let reserve = general.clone().layer(middleware::from_fn_with_state(tokens, super::reserve_gate));
    super::serve::Apps { general, reserve }
}

fn router(state: ViewState) -> Router {
    let viewer = Router::new()
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/cluster/nodes", get(nodes))
        .route("/api/v1/cluster/streams", get(streams))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(Role::Viewer, require_role));
    let operator = Router::new()
        .route("/api/v1/cluster/kill", post(kill))
        .route_layer(middleware::from_fn_with_state(Role::Operator, require_role));
    Router::new()
        .route("/", get(page))
        .route("/cluster.js", get(script))
        .route("/healthz", get(healthz))
        .merge(viewer)
        .merge(operator)
        .fallback(super::not_found)
        .method_not_allowed_fallback(super::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

async fn authenticate(State(st): State<ViewState>, req: Request, next: Next) -> Response {
    let public = (req.method() == Method::GET || req.method() == Method::HEAD)
        && matches!(req.uri().path(), "/" | "/cluster.js" | "/healthz");
    if public {
        return next.run(req).await;
    }
    bearer(&st.tokens, req, next).await
}

async fn page() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], CLUSTER_HTML).into_response()
}

async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], CLUSTER_JS).into_response()
}

async fn healthz() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "ok\n").into_response()
}

async fn whoami(Extension(a): Extension<Actor>) -> Response {
    Json(serde_json::json!({ "name": a.name, "role": a.role.as_str() })).into_response()
}

async fn nodes(State(st): State<ViewState>) -> Response {
    Json(st.source.nodes()).into_response()
}

async fn streams(State(st): State<ViewState>) -> Response {
    Json(st.source.streams()).into_response()
}

async fn metrics(State(st): State<ViewState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], st.source.metrics()).into_response()
}

/// `{"scope":"all","reason":R}` | `{"scope":"strategy","name":N,"reason":R}`.
async fn kill(State(st): State<ViewState>, Extension(actor): Extension<Actor>, h: HeaderMap, b: Body) -> ApiResult {
    let bytes = read_body_within(st.opts.body_timeout, &h, b, st.opts.json_body_limit.min(16 * 1024)).await?;
    let m = json_object(&bytes)?;
    let text = |field: &str| match m.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::unprocessable(field, format!("`{field}` must be a string"))),
        None => Err(ApiError::unprocessable(field, format!("missing field `{field}`"))),
    };
    let target = match text("scope")?.as_str() {
        "all" => {
            only_fields(&m, &["scope", "reason"])?;
            KillTarget::All
        }
        "strategy" => {
            only_fields(&m, &["scope", "name", "reason"])?;
            KillTarget::Strategy(text("name")?)
        }
        other => {
            return Err(ApiError::unprocessable("scope", format!("scope must be `all` or `strategy`, got `{other}`")));
        }
    };
    let reason = text("reason")?;
    let source = st.source.clone();
    let name = actor.name.clone();
    let answer = tokio::task::spawn_blocking(move || source.kill(target, &name, &reason))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("kill: {e}"), None))?;
    match answer {
        Ok(v) => Ok(Json(v).into_response()),
        Err(KillRefusal::Invalid { field, problem }) => Err(ApiError::unprocessable(&field, problem)),
        Err(KillRefusal::Unavailable(why)) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why, None)),
    }
}
