//! Several instances on one database. On PostgreSQL each instance remembers
//! the account rows it last wrote and tries a run on them without locks (the
//! optimistic path); another instance moving those accounts must never let
//! that memory decide an outcome. These hold on SQLite too (no memory there).

use anyhow::Result;
use futures::future::join_all;
use rust_decimal::Decimal;
use service::Ledger;
use service::operations::transfer as transfers;
use service::operations::transfer::Details;
use service::operations::transfer::Movement;
use service::operations::transfer::TransferRequest;
use tests::{TestApp, both, code_of};
use uuid::Uuid;

both!(
    a_hold_placed_elsewhere_stops_the_next_transfer_here,
    a_deposit_made_elsewhere_funds_the_next_transfer_here,
    two_instances_moving_the_same_accounts_conserve_money,
);

fn details(key: &str) -> Details {
    Details {
        idempotency_key: key.into(),
        ..Default::default()
    }
}

fn cents(n: i64) -> Decimal {
    Decimal::new(n, 2)
}

async fn move_elsewhere(other: &Ledger, from: Uuid, to: Uuid, amount: Decimal, key: &str) -> Result<()> {
    let request = TransferRequest {
        from_account_id: from,
        to_account_id: to,
        amount,
        details: details(key),
    };
    transfers::transfer(other, request).await?;
    Ok(())
}

/// A hold changes the account's held balance and version but adds no entry,
/// so only the compare-and-swap on the version can tell this instance's
/// memory of the account is stale.
async fn a_hold_placed_elsewhere_stops_the_next_transfer_here(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "100.00", "seed").await?;
    let body = app.transfer(a, b, "10.00", "t1").await?;
    assert!(body["data"]["transfer"]["id"].is_string(), "{body}");
    let other = app.second_instance().await?;
    let hold = service::operations::hold::NewHold {
        from_account_id: a,
        to_account_id: b,
        amount: cents(8_500),
        idempotency_key: "elsewhere".into(),
        expires_at: chrono::Utc::now() + chrono::Duration::minutes(10),
        description: None,
        metadata: None,
    };
    service::operations::hold::create(&other, hold).await?;
    let body = app.transfer(a, b, "10.00", "t2").await?;
    assert_eq!(code_of(&body)?, "INSUFFICIENT_FUNDS", "{body}");
    assert_eq!(app.balance(a).await?, "90.00");
    assert_eq!(app.available(a).await?, "5.00");
    assert_eq!(app.balance(b).await?, "10.00");
    app.assert_invariants().await
}

/// This instance last saw the account empty; the refusal that memory
/// suggests must not stand.
async fn a_deposit_made_elsewhere_funds_the_next_transfer_here(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "10.00", "seed").await?;
    let body = app.transfer(a, b, "10.00", "t1").await?;
    assert!(body["data"]["transfer"]["id"].is_string(), "{body}");
    let other = app.second_instance().await?;
    let deposit = Movement {
        account_id: a,
        amount: cents(5_000),
        details: details("elsewhere"),
    };
    transfers::deposit(&other, deposit).await?;
    let body = app.transfer(a, b, "20.00", "t2").await?;
    assert!(body["data"]["transfer"]["id"].is_string(), "{body}");
    assert_eq!(app.balance(a).await?, "30.00");
    assert_eq!(app.balance(b).await?, "30.00");
    app.assert_invariants().await
}

async fn two_instances_moving_the_same_accounts_conserve_money(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "1000.00", "sa").await?;
    app.deposit(b, "1000.00", "sb").await?;
    let other = app.second_instance().await?;
    let here = (0..100).map(|i| {
        let app = &app;
        async move {
            let key = format!("here-{i}");
            let body = match i % 2 {
                0 => app.transfer(a, b, "1.25", &key).await?,
                _ => app.transfer(b, a, "1.25", &key).await?,
            };
            anyhow::ensure!(body["data"]["transfer"]["id"].is_string(), "{body}");
            Ok(())
        }
    });
    let elsewhere = (0..100).map(|i| {
        let other = &other;
        async move {
            let key = format!("elsewhere-{i}");
            match i % 2 {
                0 => move_elsewhere(other, b, a, cents(125), &key).await,
                _ => move_elsewhere(other, a, b, cents(125), &key).await,
            }
        }
    });
    let (here, elsewhere) = tokio::join!(join_all(here), join_all(elsewhere));
    for r in here.into_iter().chain(elsewhere) {
        r?;
    }
    assert_eq!(app.balance(a).await?, "1000.00");
    assert_eq!(app.balance(b).await?, "1000.00");
    app.assert_invariants().await
}
