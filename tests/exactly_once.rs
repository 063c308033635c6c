//! Cost totals count every request exactly once even when the store's
//! replies are lost: a proxy in front of the DynamoDB emulator forwards
//! every request but drops the reply to every other cost transaction, so
//! the write lands and the gateway (and its SDK) retry it.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Harness, chat_body, create_table, dynamodb_url, header, picodollars, read_message};
use futures_util::future::join_all;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Forwards requests one at a time; the reply to every other
/// `TransactWriteItems` is read from the emulator and thrown away, and the
/// client's connection closed.
async fn lossy_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let transactions = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let counted = dropped.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let transactions = transactions.clone();
            let dropped = dropped.clone();
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                while let Some(request) = read_message(&mut client).await {
                    let lose = String::from_utf8_lossy(&request).contains("TransactWriteItems")
                        && transactions
                            .fetch_add(1, Ordering::Relaxed)
                            .is_multiple_of(2);
                    if server.write_all(&request).await.is_err() {
                        return;
                    }
                    let Some(reply) = read_message(&mut server).await else {
                        return;
                    };
                    if lose {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    if client.write_all(&reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, counted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_store_replies_never_count_a_cost_twice() {
    let emulator = dynamodb_url();
    let table = format!(
        "gw-once-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    create_table(&emulator, &table).await;
    let upstream: SocketAddr = emulator
        .trim_start_matches("http://")
        .parse()
        .expect("emulator address");
    let (proxy, dropped) = lossy_proxy(upstream).await;
    let proxy_url = format!("http://{proxy}");
    let h = Harness::with_env(&[
        ("DYNAMODB_TABLE", &table),
        ("AWS_ENDPOINT_URL_DYNAMODB", &proxy_url),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("STORE_TIMEOUT_MS", "5000"),
        ("STORE_WRITE_TIMEOUT_MS", "5000"),
    ])
    .await;

    let answers = join_all((0..64).map(|i| {
        let h = &h;
        async move {
            let response = h
                .chat(&chat_body("gpt-4o-mini", &format!("question number {i}")))
                .await;
            assert_eq!(response.status(), 200);
            let cost = picodollars(&header(&response, "x-gateway-cost-usd"));
            let _ = response.bytes().await;
            cost
        }
    }))
    .await;
    let billed = u64::try_from(answers.iter().sum::<u128>()).expect("fits");
    assert!(billed > 0);
    common::settled(&h).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while common::metrics(&h).await["costs"]["records_pending"] != 0 {
        assert!(std::time::Instant::now() < deadline, "backlog drained");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    common::settled(&h).await;
    assert!(
        dropped.load(Ordering::Relaxed) >= 10,
        "replies were lost: {}",
        dropped.load(Ordering::Relaxed)
    );

    // The totals, read straight from the emulator, are the sum of what
    // each response said it cost: every record once.
    let direct = llm_gateway::store::dynamodb::DynamoStore::new(
        table.clone(),
        Duration::from_secs(5),
        llm_gateway::config::AwsSettings {
            endpoint: Some(emulator.clone()),
            region: Some("us-east-1".into()),
            access_key: Some(llm_gateway::config::Secret::new("test")),
            secret_key: Some(llm_gateway::config::Secret::new("test")),
            session_token: None,
        },
    );
    use llm_gateway::store::Store;
    let day = llm_gateway::clock::today();
    let (overall, days) = direct
        .totals(std::slice::from_ref(&day))
        .await
        .expect("totals");
    assert_eq!(overall.requests, 64);
    assert_eq!(overall.picodollars, billed);
    assert_eq!(days[0].1.picodollars, billed);
    let tenant = llm_gateway::auth::static_tenant(common::CLIENT_KEY);
    let mine = direct
        .tenant_totals(&tenant, &["TOTAL".to_owned()])
        .await
        .expect("tenant");
    assert_eq!(mine[0].1.requests, 64);
    assert_eq!(mine[0].1.picodollars, billed);
}
