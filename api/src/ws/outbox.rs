//! A connection's outgoing messages: a queue of at most `buffer` messages
//! in front of the socket, drained by its own task. A subscriber that stops
//! reading fills its socket, then the queue; a message that has waited
//! `QUEUE_GRACE` for room (a slow link drains the queue sooner) ends the
//! connection as a slow consumer: its close frame skips the queue, and the
//! socket gets `CLOSE_GRACE` to take it before it is dropped.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures::SinkExt;
use futures::stream::SplitSink;
use tokio::sync::{mpsc, oneshot};

use super::close::{self, Close};

/// How long a message may wait for room in a full queue.
const QUEUE_GRACE: Duration = Duration::from_secs(2);
/// How long a closing connection may take to read up to its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(30);

pub struct Outbox {
    queue: mpsc::Sender<Message>,
    cut: Option<oneshot::Sender<Message>>,
    buffer: usize,
}

impl Outbox {
    /// The outbox of `sink`, and the task that writes to it (to be awaited
    /// beside the connection's loop).
    pub fn start(sink: SplitSink<WebSocket, Message>, buffer: usize) -> (Self, impl Future<Output = ()>) {
        let (queue, queued) = mpsc::channel(buffer.max(1));
        let (cut, cut_off) = oneshot::channel();
        let outbox = Self {
            queue,
            cut: Some(cut),
            buffer,
        };
        (outbox, write(sink, queued, cut_off))
    }

    /// Queues `text`; `Err` ends the connection (the client is gone, or
    /// stopped reading).
    pub async fn send(&mut self, text: String) -> Result<(), Close> {
        match tokio::time::timeout(QUEUE_GRACE, self.queue.send(Message::Text(text.into()))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Close::new(close::NORMAL, "")), // the writer is gone: nothing to tell
            Err(_) => {
                tracing::info!(
                    buffer = self.buffer,
                    "websocket subscriber is not reading; closing its connection"
                );
                Err(Close::new(
                    close::SLOW_CONSUMER,
                    format!(
                        "slow consumer: more than {} messages unread; resubscribe from your last cursor",
                        self.buffer
                    ),
                ))
            }
        }
    }

    /// Ends the connection with `close`: after what is queued when there is
    /// room, else at once (a slow consumer's queue will not drain).
    pub async fn close(mut self, close: Close) {
        let frame = close.frame();
        let queued = match close.code {
            close::SLOW_CONSUMER => Err(frame),
            _ => self.queue.try_send(frame).map_err(|e| e.into_inner()),
        };
        if let (Err(frame), Some(cut)) = (queued, self.cut.take()) {
            let _ = cut.send(frame);
        }
    }
}

async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut queued: mpsc::Receiver<Message>,
    cut_off: oneshot::Receiver<Message>,
) {
    let close = {
        let deliver = async {
            while let Some(m) = queued.recv().await {
                let last = matches!(m, Message::Close(_));
                if sink.send(m).await.is_err() || last {
                    break;
                }
            }
        };
        // A send blocked on a full socket must not hold up the cut-off.
        tokio::select! {
            biased;
            Ok(close) = cut_off => Some(close),
            () = deliver => None,
        }
    };
    if let Some(close) = close {
        let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(close)).await;
    }
    let _ = tokio::time::timeout(CLOSE_GRACE, sink.close()).await;
}
