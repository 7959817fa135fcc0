//! A websocket client written from RFC 6455's text, on a bare TCP stream:
//! the opening handshake (§4.1, with the `Sec-WebSocket-Accept` check),
//! masked client frames (§5.3) and the server's frames read byte by byte
//! (§5.2), so the tests see exactly what the server sent — a close frame's
//! real length, its code and reason — where a library would reject or
//! smooth over a violation.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};
use base64::Engine;
use serde_json::Value;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// RFC 6455 §1.3: the GUID appended to the client's key.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

pub struct RawWs {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// One complete message from the server.
#[derive(Debug, PartialEq)]
pub enum Frame {
    Text(Value),
    Ping(Vec<u8>),
    /// A close frame: its code, reason and the payload's length in bytes
    /// (at most 125 for every control frame, §5.5).
    Close {
        code: u16,
        reason: String,
        len: usize,
    },
    /// The TCP connection ended without a close frame.
    Eof,
}

impl RawWs {
    /// Opens `ws://…/graphql` on `base` (`http://host:port`) asking for
    /// `protocol`, with extra request headers.
    pub async fn connect(base: &str, protocol: &str, headers: &[(&str, &str)]) -> Result<Self> {
        let host = base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(host).await?;
        let key = base64::engine::general_purpose::STANDARD.encode(fastrand::u128(..).to_be_bytes());
        let mut request = format!(
            "GET /graphql HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {protocol}\r\n"
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut ws = Self {
            stream,
            buf: Vec::new(),
        };
        let head = ws.read_head().await?;
        let status = head.lines().next().unwrap_or_default();
        ensure!(status.starts_with("HTTP/1.1 101"), "no upgrade: {head}");
        let accept = base64::engine::general_purpose::STANDARD.encode(Sha1::digest(format!("{key}{GUID}")));
        ensure!(
            header(&head, "sec-websocket-accept") == Some(accept.as_str()),
            "wrong Sec-WebSocket-Accept in {head}"
        );
        ensure!(
            header(&head, "sec-websocket-protocol") == Some(protocol),
            "the server did not select {protocol}: {head}"
        );
        Ok(ws)
    }

    /// The raw HTTP answer to an upgrade that is expected to be refused.
    pub async fn refused(base: &str, protocol: &str) -> Result<String> {
        let host = base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(host).await?;
        let request = format!(
            "GET /graphql HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: {protocol}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut ws = Self {
            stream,
            buf: Vec::new(),
        };
        ws.read_head().await
    }

    async fn read_head(&mut self) -> Result<String> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 4);
                return Ok(head);
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut chunk))
                .await
                .context("no HTTP answer within 5 s")??;
            ensure!(n > 0, "connection closed before the HTTP answer");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends one masked text frame.
    pub async fn send_text(&mut self, text: &str) -> Result<()> {
        self.send_frame(0x1, text.as_bytes()).await
    }

    pub async fn send_json(&mut self, message: Value) -> Result<()> {
        self.send_text(&message.to_string()).await
    }

    pub async fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> Result<()> {
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = fastrand::u32(..).to_be_bytes();
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await?;
        Ok(())
    }

    /// The next message, within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Result<Frame> {
        tokio::time::timeout(wait, self.read_frame())
            .await
            .map_err(|_| anyhow!("no frame within {wait:?}"))?
    }

    /// The next message that is not a ping or a keep-alive.
    pub async fn next_message(&mut self, wait: Duration) -> Result<Frame> {
        loop {
            match self.next(wait).await? {
                Frame::Ping(_) => {}
                Frame::Text(v) if v["type"] == "ka" => {}
                other => return Ok(other),
            }
        }
    }

    /// Reads until the server closes, returning its close code and reason.
    pub async fn closed(&mut self, wait: Duration) -> Result<(u16, String)> {
        loop {
            match self.next(wait).await? {
                Frame::Close { code, reason, len } => {
                    ensure!(len <= 125, "a close frame of {len} bytes breaks RFC 6455 §5.5");
                    return Ok((code, reason));
                }
                Frame::Eof => bail!("the connection ended without a close frame"),
                _ => {}
            }
        }
    }

    async fn fill(&mut self, n: usize) -> Result<bool> {
        while self.buf.len() < n {
            let mut chunk = [0u8; 4096];
            let read = self.stream.read(&mut chunk).await?;
            if read == 0 {
                return Ok(false);
            }
            self.buf.extend_from_slice(&chunk[..read]);
        }
        Ok(true)
    }

    async fn read_frame(&mut self) -> Result<Frame> {
        let mut message = Vec::new();
        loop {
            if !self.fill(2).await? {
                return Ok(Frame::Eof);
            }
            let (fin, opcode, masked) = (self.buf[0] & 0x80 != 0, self.buf[0] & 0x0F, self.buf[1] & 0x80 != 0);
            ensure!(!masked, "RFC 6455 §5.1: a server must not mask its frames");
            let (len, header) = match self.buf[1] & 0x7F {
                126 => {
                    self.fill(4).await?;
                    (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                }
                127 => {
                    self.fill(10).await?;
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&self.buf[2..10]);
                    (u64::from_be_bytes(b) as usize, 10)
                }
                n => (n as usize, 2),
            };
            if !self.fill(header + len).await? {
                return Ok(Frame::Eof);
            }
            let payload: Vec<u8> = self.buf.drain(..header + len).skip(header).collect();
            match opcode {
                0x8 => {
                    ensure!(fin, "a fragmented close frame");
                    let code = match payload.len() {
                        0 => 1005,
                        _ => u16::from_be_bytes([payload[0], *payload.get(1).unwrap_or(&0)]),
                    };
                    let reason = String::from_utf8(payload.get(2..).unwrap_or_default().to_vec())
                        .context("a close reason that is not UTF-8")?;
                    return Ok(Frame::Close {
                        code,
                        reason,
                        len: payload.len(),
                    });
                }
                0x9 => return Ok(Frame::Ping(payload)),
                0xA => {}
                0x1 | 0x0 => {
                    message.extend_from_slice(&payload);
                    if fin {
                        let text = String::from_utf8(message).context("a text frame that is not UTF-8")?;
                        return Ok(Frame::Text(serde_json::from_str(&text)?));
                    }
                }
                other => bail!("unexpected opcode {other:#x}"),
            }
        }
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
