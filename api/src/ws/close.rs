//! How a websocket ends: a close code and a reason, sent as one close
//! frame. RFC 6455 §5.5 caps a control frame's payload at 125 bytes, two of
//! which are the code, so a reason is cut to 123 bytes on a UTF-8 boundary
//! (a longer frame is a protocol error that hides the code from clients).

use axum::extract::ws::{CloseFrame, Message};

/// Normal end (the client said goodbye).
pub const NORMAL: u16 = 1000;
/// A policy was broken (too many websockets for one caller).
pub const POLICY: u16 = 1008;
/// Try again later: a subscriber that stopped reading was cut off.
pub const SLOW_CONSUMER: u16 = 1013;
/// graphql-transport-ws: a message the protocol does not allow.
pub const BAD_REQUEST: u16 = 4400;
/// graphql-transport-ws: `subscribe` before the connection was acknowledged.
pub const UNAUTHORIZED: u16 = 4401;
/// graphql-transport-ws: the credential was refused (at `connection_init`,
/// or later, when it was revoked or expired).
pub const FORBIDDEN: u16 = 4403;
/// graphql-transport-ws: no `connection_init` within the wait.
pub const INIT_TIMEOUT: u16 = 4408;
/// graphql-transport-ws: `subscribe` with the id of a running operation.
pub const DUPLICATE_ID: u16 = 4409;
/// graphql-transport-ws: a second `connection_init`.
pub const TOO_MANY_INITS: u16 = 4429;

/// The most bytes of reason a close frame can carry.
pub const MAX_REASON: usize = 123;

/// Why a connection ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: String,
}

impl Close {
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    /// The close frame, its reason cut to fit.
    pub fn frame(&self) -> Message {
        Message::Close(Some(CloseFrame {
            code: self.code,
            reason: truncate(&self.reason, MAX_REASON).into(),
        }))
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let end = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_cut_to_123_bytes_on_a_character_boundary() {
        assert_eq!(truncate("short", MAX_REASON), "short");
        let long = "é".repeat(100); // 200 bytes, 2 per character
        let cut = truncate(&long, MAX_REASON);
        assert_eq!(cut.len(), 122);
        assert!(cut.chars().all(|c| c == 'é'));
        let frame = Close::new(FORBIDDEN, "x".repeat(500)).frame();
        let Message::Close(Some(frame)) = frame else {
            panic!("not a close frame")
        };
        assert_eq!(frame.reason.len(), MAX_REASON);
    }
}
