//! What the client puts on the wire, and its timeouts, against raw loopback sockets.

use std::time::Duration;

use gemini::{ClientConfig, GeminiClient, GeminiError, GenerateContentRequest};
use keypool::ApiKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SECRET: &str = "test-key-WIRE-SECRET-9876";

/// A one-shot server: returns the raw request it read, after answering `reply` (or stalling).
async fn one_shot(reply: &'static [u8], stall: bool) -> (String, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 65536];
        let mut got = Vec::new();
        // Read until the end of the headers and the JSON body (a closing brace).
        loop {
            let n = sock.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if n == 0 || (text.contains("\r\n\r\n") && text.trim_end().ends_with('}')) {
                break;
            }
        }
        sock.write_all(reply).await.unwrap();
        if stall {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        String::from_utf8_lossy(&got).into_owned()
    });
    (base, task)
}

fn client(base: &str, first_byte: Duration, total: Duration) -> GeminiClient {
    GeminiClient::new(ClientConfig {
        base_url: base.to_owned(),
        connect_timeout: Duration::from_secs(2),
        first_byte_timeout: first_byte,
        total_timeout: total,
        stream_idle_timeout: first_byte,
    })
    .unwrap()
}

#[tokio::test]
async fn the_key_travels_only_in_the_header() {
    let (base, server) = one_shot(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
        false,
    )
    .await;
    let c = client(&base, Duration::from_secs(5), Duration::from_secs(5));
    c.generate(
        &ApiKey::new(SECRET),
        "gemini-2.5-flash",
        &GenerateContentRequest::from_prompt("hi"),
    )
    .await
    .unwrap();
    let request = server.await.unwrap();
    let (head, _) = request.split_once("\r\n\r\n").unwrap();
    let first_line = head.lines().next().unwrap();
    assert_eq!(
        first_line,
        "POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1"
    );
    assert!(!first_line.contains("key="), "{first_line}");
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case(&format!("x-goog-api-key: {SECRET}"))),
        "{head}"
    );
    assert_eq!(request.matches(SECRET).count(), 1, "only in the header");
}

#[tokio::test]
async fn a_closed_port_is_a_transient_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let c = client(&base, Duration::from_secs(2), Duration::from_secs(2));
    let err = c
        .generate(
            &ApiKey::new(SECRET),
            "gemini-2.5-flash",
            &GenerateContentRequest::from_prompt("hi"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, GeminiError::Connect(_)), "{err}");
    assert_eq!(err.outcome().class(), "transient");
    assert!(!err.to_string().contains(SECRET));
}

#[tokio::test]
async fn a_body_that_stalls_hits_the_total_timeout() {
    let (base, _server) = one_shot(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"candi",
        true,
    )
    .await;
    let c = client(&base, Duration::from_secs(2), Duration::from_millis(300));
    let err = c
        .generate(
            &ApiKey::new(SECRET),
            "gemini-2.5-flash",
            &GenerateContentRequest::from_prompt("hi"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, GeminiError::Timeout("total")), "{err}");
}

#[tokio::test]
async fn headers_that_never_come_hit_the_first_byte_timeout() {
    let (base, _server) = one_shot(b"", true).await;
    let c = client(&base, Duration::from_millis(200), Duration::from_secs(5));
    let err = c
        .generate(
            &ApiKey::new(SECRET),
            "gemini-2.5-flash",
            &GenerateContentRequest::from_prompt("hi"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, GeminiError::Timeout("first byte")), "{err}");
}

#[tokio::test]
async fn raw_generate_passes_both_bodies_through_untouched() {
    let reply: &'static [u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 102\r\n\r\n{\"candidates\": [], \"usageMetadata\": {\"promptTokenCount\": 7, \"candidatesTokenCount\": 3}, \"zz\": {\"a\":1}}";
    let (base, server) = one_shot(reply, false).await;
    let c = client(&base, Duration::from_secs(5), Duration::from_secs(5));
    // Odd spacing and an unknown field: forwarded byte for byte.
    let body = r#"{ "contents": [{"parts":[{"text":"hi"}]}],  "cachedContent": "x" }"#;
    let got = c
        .generate_raw(
            &ApiKey::new(SECRET),
            "gemini-2.5-flash",
            bytes::Bytes::from_static(body.as_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(
        got.body.as_ref(),
        &reply[reply.len() - 102..],
        "the answer as sent"
    );
    assert_eq!((got.prompt_tokens, got.output_tokens), (Some(7), Some(3)));
    let request = server.await.unwrap();
    assert!(request.ends_with(body), "{request}");
    assert!(request.contains("/v1beta/models/gemini-2.5-flash:generateContent"));
}
