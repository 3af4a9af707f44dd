//! What intake may hold and how long it waits: a byte budget shared by every request in flight
//! (bodies being read, verified, or queued for the writer), and a deadline for the body.
//!
//! The writer's queue bounds how many deliveries wait, and `max_body_bytes` bounds each one,
//! but neither bounds the bodies still arriving on thousands of connections. The budget does:
//! a request that would take intake past it gets 503 at once, before its body is buffered, so
//! memory stays flat however hard senders push.

use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::web;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ApiError;

/// Body bytes intake may hold at once.
#[derive(Clone)]
pub struct IntakeBudget {
    bytes: Arc<Semaphore>,
    capacity: usize,
}

impl IntakeBudget {
    pub fn new(capacity: usize) -> IntakeBudget {
        let capacity = capacity.min(Semaphore::MAX_PERMITS);
        IntakeBudget {
            bytes: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes held by requests in flight right now.
    pub fn in_use(&self) -> usize {
        self.capacity.saturating_sub(self.bytes.available_permits())
    }

    /// Counts `bytes` more against the budget, into `held`; 503 when the budget is spent.
    fn reserve(&self, held: &mut Held, bytes: usize) -> Result<(), ApiError> {
        if bytes == 0 {
            return Ok(());
        }
        let bytes = u32::try_from(bytes).map_err(|_| ApiError::Overloaded)?;
        let permit = self
            .bytes
            .clone()
            .try_acquire_many_owned(bytes)
            .map_err(|_| ApiError::Overloaded)?;
        match &mut held.0 {
            Some(existing) => existing.merge(permit),
            None => held.0 = Some(permit),
        }
        Ok(())
    }
}

/// Budget held by one request; returned when dropped (when the request has its answer).
#[derive(Default)]
pub struct Held(Option<OwnedSemaphorePermit>);

/// The raw body, refusing anything over `limit` before buffering it, anything that would
/// exceed the intake budget, and any client that takes longer than `deadline` to send it
/// (a slowloris trickle holds a connection and a buffer for as long as it is let).
pub async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    budget: &IntakeBudget,
    deadline: Duration,
) -> Result<(Bytes, Held), ApiError> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut held = Held::default();
    let mut reserved = declared.unwrap_or(0);
    budget.reserve(&mut held, reserved)?;
    let read = async {
        let mut body = BytesMut::with_capacity(reserved.min(limit));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|err| ApiError::BadRequest(format!("could not read the body: {err}")))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
            // Without a (truthful) Content-Length the size is learned as it arrives.
            if body.len() > reserved {
                budget.reserve(&mut held, body.len() - reserved)?;
                reserved = body.len();
            }
        }
        Ok(body.freeze())
    };
    match tokio::time::timeout(deadline, read).await {
        Ok(body) => Ok((body?, held)),
        Err(_) => Err(ApiError::RequestTimeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_past_its_capacity_and_recovers_when_requests_end() {
        let budget = IntakeBudget::new(100);
        let mut first = Held::default();
        budget.reserve(&mut first, 60).unwrap();
        budget.reserve(&mut first, 30).unwrap();
        assert_eq!(budget.in_use(), 90);
        let mut second = Held::default();
        assert!(matches!(
            budget.reserve(&mut second, 20),
            Err(ApiError::Overloaded)
        ));
        drop(first);
        assert_eq!(budget.in_use(), 0);
        budget.reserve(&mut second, 20).unwrap();
        assert_eq!(budget.in_use(), 20);
    }
}
