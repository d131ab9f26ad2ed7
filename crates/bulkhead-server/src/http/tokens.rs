//! Token management (admin only): list, create, revoke.
//!
//! A change is checked here (shape, name, role, duplicate, unknown token,
//! last admin), then: the new token file is written beside the real one
//! and fsynced; the engine journals the change as a [`Command::Tokens`]
//! with the admin's name; only after its answer is the file renamed into
//! place and the in-memory set swapped, so the very next request is checked
//! against the new set. Changes are serialised, and once a change has gone
//! to the engine it runs to its end even if the HTTP caller disconnects or
//! times out (504, as for a kill switch): a journalled change is an applied
//! change, and a change the engine refused or never got is not applied. Neither a token's text nor its
//! hash is ever journalled, listed or streamed; the text of a new token is
//! in the 201 answer and nowhere else.

use super::*;
use crate::auth::{TokenEntry, valid_token_name};
use crate::command::TokenChange;
use std::time::Duration;

/// How long a token change already handed to the engine waits for its
/// answer (after the HTTP caller has been told 504). Only an engine that is
/// gone ends the wait earlier, and then nothing was journalled.
const ENGINE_ANSWER_WAIT: Duration = Duration::from_secs(24 * 3600);

fn public(e: &TokenEntry) -> Value {
    json!({ "name": e.name, "role": e.role, "created": e.created })
}

fn current(st: &AppState) -> TokenStore {
    st.tokens.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn tokens_file(st: &AppState) -> ApiResult<std::path::PathBuf> {
    st.opts.tokens_file.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "this server was started without a token file, so token changes could not be kept; \
             manage tokens with `bulkhead token` and restart",
            None,
        )
    })
}

/// `GET /api/v1/tokens`: name, role and creation time of every token.
pub(super) async fn list(State(st): State<AppState>) -> Response {
    let store = current(&st);
    Json(json!({ "tokens": store.entries().map(public).collect::<Vec<_>>() })).into_response()
}

/// `POST /api/v1/tokens` `{"name": "...", "role": "viewer|operator|admin"}`:
/// 201 with the new token's text (shown only in this answer).
pub(super) async fn create(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let bytes = read_body(&st, &headers, body, st.opts.json_body_limit).await?;
    let m = json_object(&bytes)?;
    only_fields(&m, &["name", "role"])?;
    let name = string_field(&m, "name")?;
    if !valid_token_name(name) {
        return Err(ApiError::unprocessable("name", "token name must be 1-64 characters of [A-Za-z0-9_.@-]"));
    }
    let role_text = string_field(&m, "role")?;
    let role = Role::parse(role_text).ok_or_else(|| {
        ApiError::unprocessable("role", format!("role must be `viewer`, `operator` or `admin`, got `{role_text}`"))
    })?;
    let path = tokens_file(&st)?;
    let turn = st.token_changes.clone().lock_owned().await;
    let mut next = current(&st);
    if next.get(name).is_some() {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("token `{name}` already exists"), Some("name")));
    }
    let (secret, entry) = TokenStore::generate(name, role)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None))?;
    let listed = public(&entry);
    next.add(entry).map_err(|e| ApiError::new(StatusCode::CONFLICT, e.to_string(), Some("name")))?;
    let change = TokenChange::Create { name: name.to_string(), role };
    let target = json!({ "token": name, "role": role });
    let message = apply(&st, actor.clone(), change, next, path, target, turn).await?;
    let body = json!({
        "ok": true,
        "command": "token_create",
        "actor": actor.name,
        "token": listed,
        "secret": secret,
        "message": format!("{message}; the secret is shown only now"),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `DELETE /api/v1/tokens/{name}`: revoke; the token's next request is 401.
pub(super) async fn revoke(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
) -> ApiResult {
    let path = tokens_file(&st)?;
    let turn = st.token_changes.clone().lock_owned().await;
    let mut next = current(&st);
    let Some(entry) = next.get(&name) else {
        return Err(ApiError::not_found("name", format!("unknown token `{name}`")));
    };
    if entry.role == Role::Admin && next.entries().filter(|e| e.role == Role::Admin).count() == 1 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("`{name}` is the last admin token; create another admin token before revoking it"),
            Some("name"),
        ));
    }
    let listed = public(entry);
    next.remove(&name);
    let target = json!({ "token": name });
    let message = apply(&st, actor.clone(), TokenChange::Revoke { name }, next, path, target, turn).await?;
    Ok(Json(json!({ "ok": true, "command": "token_revoke", "actor": actor.name, "token": listed, "message": message }))
        .into_response())
}

/// Write the new file aside, have the engine journal the change, then put
/// the file in place and swap the set. Runs in its own task so that a
/// caller hanging up cannot leave a journalled change unapplied.
async fn apply(
    st: &AppState,
    actor: Actor,
    change: TokenChange,
    next: TokenStore,
    path: std::path::PathBuf,
    target: Value,
    turn: tokio::sync::OwnedMutexGuard<()>,
) -> ApiResult<String> {
    let task = tokio::spawn({
        let st = st.clone();
        async move {
            let _turn = turn;
            let internal = |e: String| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e, None);
            let pending = next.write_pending(&path).map_err(|e| internal(format!("token file not written: {e}")))?;
            let command = Command::Tokens(change);
            let kind = command.kind();
            let answer = st.client.submit(command, actor.clone(), ENGINE_ANSWER_WAIT).await;
            let outcome = match answer {
                Ok(Ok(message)) => match pending.commit() {
                    Ok(()) => {
                        crate::swap_tokens(&st.tokens, next);
                        Ok(message)
                    }
                    Err(e) => Err(internal(format!(
                        "journalled, but the token file could not be replaced ({e}): not applied"
                    ))),
                },
                Ok(Err(e)) => {
                    let (status, field) = refusal_status(&e);
                    Err(ApiError { status, error: e.to_string(), field })
                }
                Err(e) => Err(ApiError::new(submit_error_status(&e), format!("{e}; the token set is unchanged"), None)),
            };
            let ok = outcome.is_ok();
            st.client.metrics.command_answered(kind, if ok { "ok" } else { "refused" });
            let message = match &outcome {
                Ok(m) => m.clone(),
                Err(e) => e.error.clone(),
            };
            st.client.emit(LiveEvent::Command { actor, command: format!("{kind} {target}"), ok, message });
            outcome
        }
    });
    match tokio::time::timeout(st.opts.command_timeout, task).await {
        Ok(joined) => {
            joined.unwrap_or_else(|e| Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None)))
        }
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "the engine did not answer in time; the change is applied if and when the engine journals it \
             (read GET /api/v1/tokens back)",
            None,
        )),
    }
}
