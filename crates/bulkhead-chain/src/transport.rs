//! The HTTP transport under the RPC client: alloy's reqwest transport reads
//! a whole response body whatever its size; this one stops at
//! [`MAX_RESPONSE_BYTES`], so a hostile or broken node cannot make the host
//! allocate without bound (the RPC timeout bounds only the time).
//!
//! Owns: one POST per JSON-RPC request packet, the body cap, the mapping of
//! HTTP failures to alloy's transport errors. Must never: follow redirects
//! (the client is built without), or keep more than the cap of any answer.

use std::task;
use std::time::Duration;

use alloy_json_rpc::{RequestPacket, ResponsePacket};
use alloy_transport::{TransportError, TransportErrorKind, TransportFut};

/// Largest response body accepted from the node (a simulation of the
/// demo book answers ~40 KiB).
pub const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// Longest excerpt of a refused body kept in an error.
const EXCERPT: usize = 256;

/// An HTTP JSON-RPC transport with a bounded response body.
#[derive(Clone, Debug)]
pub struct CappedHttp {
    client: reqwest::Client,
    url: reqwest::Url,
    cap: usize,
    /// The client's timeout, named in the error when it fires.
    timeout: Duration,
}

/// A reqwest failure as a transport error that says what happened: the
/// timeout with its length, a refused connection, or the innermost cause.
fn http_failure(e: &reqwest::Error, timeout: Duration) -> TransportError {
    let what = if e.is_timeout() {
        format!("no answer within {} ms", timeout.as_millis())
    } else {
        let mut inner: &dyn std::error::Error = e;
        while let Some(s) = inner.source() {
            inner = s;
        }
        let kind = if e.is_connect() { "cannot connect" } else { "request failed" };
        format!("{kind}: {inner}")
    };
    TransportErrorKind::custom_str(&what)
}

impl CappedHttp {
    pub fn new(client: reqwest::Client, url: reqwest::Url, cap: usize, timeout: Duration) -> CappedHttp {
        CappedHttp { client, url, cap, timeout }
    }

    async fn post(self, req: RequestPacket) -> Result<ResponsePacket, TransportError> {
        let body = serde_json::to_vec(&req).map_err(TransportError::ser_err)?;
        let mut resp = self
            .client
            .post(self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| http_failure(&e, self.timeout))?;
        let status = resp.status();
        let too_big = |n: u64| {
            TransportErrorKind::custom_str(&format!("response body of {n} bytes or more, the cap is {}", self.cap))
        };
        if let Some(n) = resp.content_length()
            && n > self.cap as u64
        {
            return Err(too_big(n));
        }
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| http_failure(&e, self.timeout))? {
            if buf.len().saturating_add(chunk.len()) > self.cap {
                return Err(too_big((buf.len() + chunk.len()) as u64));
            }
            buf.extend_from_slice(&chunk);
        }
        let excerpt = || String::from_utf8_lossy(&buf[..buf.len().min(EXCERPT)]).into_owned();
        if !status.is_success() {
            return Err(TransportErrorKind::http_error(status.as_u16(), excerpt()));
        }
        serde_json::from_slice(&buf).map_err(|e| TransportError::deser_err(e, excerpt()))
    }
}

impl tower::Service<RequestPacket> for CappedHttp {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut task::Context<'_>) -> task::Poll<Result<(), Self::Error>> {
        task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: RequestPacket) -> Self::Future {
        Box::pin(self.clone().post(req))
    }
}
