//! The sealed journal, signed digests and proofs; tampering that the
//! per-account chains alone cannot see; the append-only triggers.
//!
//! Over 300 lines on purpose: one capability's scenarios sharing the
//! digest and proof helpers defined here.

use anyhow::{Result, ensure};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use service::seal::digest::Digest;
use tests::{Backend, TestApp, both, uuid_at};
use uuid::Uuid;

both!(
    every_transfer_is_sealed_once_and_every_proof_verifies,
    tail_truncation_is_detected,
    a_transfer_inserted_into_history_is_detected,
    an_edited_block_is_detected,
    a_consistent_full_rewrite_is_caught_by_a_saved_digest,
    the_database_refuses_updates_and_deletes_of_history,
    three_instances_seal_every_transfer_exactly_once,
);

const DIGEST: &str = "{ ledgerDigest { height treeSize rootHash blockHash sealedAt signature publicKey algorithm } }";

fn id_sql(app: &TestApp, id: Uuid) -> String {
    match app.backend {
        Backend::Postgres => format!("'{id}'"),
        Backend::Sqlite => format!("X'{}'", hex::encode(id.as_bytes())),
    }
}

fn h(v: &Value) -> [u8; 32] {
    v.as_str()
        .and_then(|s| hex::decode(s).ok())
        .and_then(|b| b.try_into().ok())
        .unwrap_or([0; 32])
}

async fn transfers(app: &TestApp, n: usize, prefix: &str) -> Result<Vec<Uuid>> {
    let a = match app.data("{ accountByCode(code: \"a\") { id } }", json!({})).await?["accountByCode"]["id"].as_str() {
        Some(id) => Uuid::parse_str(id)?,
        None => app.open("a", "USD", None).await?,
    };
    let mut ids = Vec::new();
    for i in 0..n {
        let body = app
            .deposit(a, &format!("{}.00", i + 1), &format!("{prefix}{i}"))
            .await?;
        ids.push(uuid_at(&body["data"]["deposit"]["id"])?);
    }
    Ok(ids)
}

async fn problems(app: &TestApp) -> Result<Vec<String>> {
    let data = app
        .data("{ verifyLedger { ok problems { message } } }", json!({}))
        .await?;
    app.verify_both_ways().await?;
    Ok(data["verifyLedger"]["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["message"].as_str().map(str::to_owned))
        .collect())
}

async fn every_transfer_is_sealed_once_and_every_proof_verifies(app: TestApp) -> Result<()> {
    let empty = app.data(DIGEST, json!({})).await?;
    assert_eq!(empty["ledgerDigest"]["treeSize"], 0);
    let digest0 = Digest::from_json(&empty).ok_or_else(|| anyhow::anyhow!("unreadable digest {empty}"))?;
    let first = transfers(&app, 5, "t").await?;
    let block = service::seal::seal_once(&app.ledger).await?;
    assert_eq!(block.map(|b| (b.height, b.tree_size)), Some((1, 5)));
    assert!(
        service::seal::seal_once(&app.ledger).await?.is_none(),
        "nothing left to seal"
    );
    let d1 = app.data(DIGEST, json!({})).await?;
    let digest1 = Digest::from_json(&d1).ok_or_else(|| anyhow::anyhow!("unreadable digest {d1}"))?;
    assert!(digest1.signature_is_valid());
    assert_eq!(d1["ledgerDigest"]["algorithm"], "Ed25519");
    let second = transfers(&app, 4, "u").await?;
    service::seal::seal_once(&app.ledger).await?;
    let d2 = app.data(DIGEST, json!({})).await?;
    assert_eq!(d2["ledgerDigest"]["treeSize"], 9);
    let root2 = h(&d2["ledgerDigest"]["rootHash"]);
    let q = "query($id: UUID!, $n: Int!) { inclusionProof(transferId: $id, treeSize: $n) { leafIndex treeSize transferHash leafHash auditPath rootHash } transfer(id: $id) { hash } }";
    for id in first.iter().chain(&second) {
        let p = app.data(q, json!({ "id": id, "n": 9 })).await?;
        let proof = &p["inclusionProof"];
        assert_eq!(proof["transferHash"], p["transfer"]["hash"]);
        let path: Vec<[u8; 32]> = proof["auditPath"].as_array().into_iter().flatten().map(h).collect();
        let index = proof["leafIndex"].as_u64().unwrap_or(u64::MAX) as usize;
        assert!(
            proof::verify_inclusion(&h(&proof["leafHash"]), index, 9, &path, &root2),
            "{p}"
        );
        let mut forged = path.clone();
        if let Some(x) = forged.first_mut() {
            x[0] ^= 1;
            assert!(!proof::verify_inclusion(
                &h(&proof["leafHash"]),
                index,
                9,
                &forged,
                &root2
            ));
        }
    }
    let c = app
        .data(
            "{ consistencyProof(fromSize: 5, toSize: 9) { fromRoot toRoot proof } }",
            json!({}),
        )
        .await?;
    let c = &c["consistencyProof"];
    let path: Vec<[u8; 32]> = c["proof"].as_array().into_iter().flatten().map(h).collect();
    assert_eq!(h(&c["fromRoot"]), digest1.root_hash);
    assert!(proof::verify_consistency(5, 9, &path, &digest1.root_hash, &root2));
    let too_big = app
        .post("{ consistencyProof(fromSize: 5, toSize: 10) { proof } }", json!({}))
        .await?;
    assert_eq!(tests::code_of(&too_big)?, "INVALID_INPUT");
    let v = service::verify::verify_with(&app.ledger, Some(&digest1), None).await?;
    ensure!(
        v.ok() && v.leaves_checked == 9 && v.blocks_checked == 2,
        "{:?}",
        v.problems
    );
    let v = service::verify::verify_with(&app.ledger, Some(&digest0), None).await?;
    ensure!(
        v.ok(),
        "a digest of the empty journal is a prefix of every journal: {:?}",
        v.problems
    );
    app.assert_invariants().await
}

async fn tail_truncation_is_detected(app: TestApp) -> Result<()> {
    let ids = transfers(&app, 4, "t").await?;
    service::seal::seal_once(&app.ledger).await?;
    let last = *ids.last().unwrap_or(&Uuid::nil());
    // Remove the last transfer entirely and patch both accounts to match.
    let t = id_sql(&app, last);
    for code in ["a", "world:USD"] {
        app.tamper(&format!(
            "UPDATE account SET entry_count = entry_count - 1, \
             balance = (SELECT balance_after FROM entry WHERE account_id = account.id AND sequence = account.entry_count - 1) \
             WHERE code = '{code}'"
        ))
        .await?;
    }
    let unqueue = app.unqueue_sql(&t);
    app.tamper(&format!(
        "DELETE FROM entry WHERE transfer_id = {t}; {unqueue}; DELETE FROM transfer WHERE id = {t}"
    ))
    .await?;
    tests::invariants::check(&app.db).await?; // the rows alone look consistent…
    let found = problems(&app).await?;
    assert!(
        found
            .iter()
            .any(|m| m.contains("leaf 3 is missing (deleted after sealing)")),
        "{found:?}"
    );
    Ok(())
}

async fn a_transfer_inserted_into_history_is_detected(app: TestApp) -> Result<()> {
    let ids = transfers(&app, 3, "t").await?;
    service::seal::seal_once(&app.ledger).await?;
    let copy = Uuid::now_v7();
    app.tamper(&format!(
        "INSERT INTO transfer (id, kind, debit_account_id, credit_account_id, amount, currency, idempotency_key, reversal_of, hold_id, description, metadata, created_at, hash) \
         SELECT {}, kind, debit_account_id, credit_account_id, amount, currency, 'forged', reversal_of, hold_id, description, metadata, created_at, hash FROM transfer WHERE id = {}",
        id_sql(&app, copy),
        id_sql(&app, ids[1])
    ))
    .await?;
    let found = problems(&app).await?;
    assert!(
        found.iter().any(|m| m.contains("neither sealed nor queued")),
        "{found:?}"
    );
    Ok(())
}

async fn an_edited_block_is_detected(app: TestApp) -> Result<()> {
    transfers(&app, 3, "t").await?;
    service::seal::seal_once(&app.ledger).await?;
    transfers(&app, 2, "u").await?;
    service::seal::seal_once(&app.ledger).await?;
    app.tamper("UPDATE block SET transfer_count = 30 WHERE height = 1")
        .await?;
    let found = problems(&app).await?;
    assert!(
        found.iter().any(|m| m.contains("block 1: block hash does not match")),
        "{found:?}"
    );
    Ok(())
}

async fn a_consistent_full_rewrite_is_caught_by_a_saved_digest(app: TestApp) -> Result<()> {
    transfers(&app, 6, "t").await?;
    service::seal::seal_once(&app.ledger).await?;
    let saved = app.data(DIGEST, json!({})).await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("digest.json");
    std::fs::write(&file, saved.to_string())?;
    // The rewrite: the same ledger rebuilt with one amount changed and every
    // hash, chain, block and root recomputed consistently.
    let forged = tests::spawn_app(app.backend).await?;
    let a = forged.open("a", "USD", None).await?;
    for i in 0..6 {
        let amount = if i == 2 {
            "300.00".to_owned()
        } else {
            format!("{}.00", i + 1)
        };
        forged.deposit(a, &amount, &format!("t{i}")).await?;
    }
    service::seal::seal_once(&forged.ledger).await?;
    forged.assert_invariants().await?; // internally consistent…
    let digest = Digest::from_json(&saved).ok_or_else(|| anyhow::anyhow!("digest"))?;
    let v = service::verify::verify_with(&forged.ledger, Some(&digest), None).await?;
    assert!(
        v.problems.iter().any(|p| p.message.contains("history was rewritten")),
        "{:?}",
        v.problems
    );
    // …and the CLI says so with a failing exit code; the original passes.
    let cli = |url: String| {
        api::verify_cmd::run(api::config::VerifyArgs {
            database_url: url,
            digest: Some(file.clone()),
        })
    };
    assert_eq!(
        cli(forged.database_url()).await.ok(),
        Some(std::process::ExitCode::FAILURE)
    );
    assert_eq!(
        cli(app.database_url()).await.ok(),
        Some(std::process::ExitCode::SUCCESS)
    );
    Ok(())
}

async fn the_database_refuses_updates_and_deletes_of_history(app: TestApp) -> Result<()> {
    transfers(&app, 2, "t").await?;
    service::seal::seal_once(&app.ledger).await?;
    let mut statements = vec![
        "UPDATE entry SET amount = '9.00'".to_owned(),
        "DELETE FROM entry".to_owned(),
        "UPDATE transfer SET amount = '9.00'".to_owned(),
        "DELETE FROM transfer".to_owned(),
        "UPDATE block SET tree_size = 0".to_owned(),
        "DELETE FROM journal".to_owned(),
        "DELETE FROM idempotency".to_owned(),
        // Accounts change, but are never deleted (entries would lose their account).
        "DELETE FROM account".to_owned(),
    ];
    if app.backend == Backend::Postgres {
        // (A plain TRUNCATE is refused by the holds' foreign keys already.)
        statements.push("TRUNCATE account CASCADE".to_owned());
        statements.push("TRUNCATE entry".to_owned());
        statements.push("TRUNCATE block".to_owned());
    }
    let before = app.snapshot().await?;
    for sql in statements {
        let err = app.sql(&sql).await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("append-only"), "{sql} was not refused: {err}");
    }
    assert_eq!(app.snapshot().await?, before);
    app.assert_invariants().await
}

async fn three_instances_seal_every_transfer_exactly_once(app: TestApp) -> Result<()> {
    let every = std::time::Duration::from_millis(50);
    let instances = [
        app.ledger.clone(),
        app.second_instance().await?,
        app.second_instance().await?,
    ];
    let mut sealers: Vec<_> = instances
        .iter()
        .map(|l| Some(service::seal::spawn(l.clone(), every)))
        .collect();
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "1000.00", "seed").await?;
    let writes = futures::future::join_all((0..60).map(|i| {
        let app = &app;
        async move { app.transfer(a, b, "1.00", &format!("w{i}")).await }
    }));
    for body in writes.await {
        ensure!(body?["data"]["transfer"]["id"].is_string());
    }

    wait_until_sealed(&app).await?;
    if app.backend == Backend::Postgres {
        assert_eq!(leaders(&sealers), 1, "exactly one instance seals");
        // Kill the leader: another takes over.
        let leader = sealers.iter().position(|s| {
            s.as_ref()
                .is_some_and(|s| s.is_leader.load(std::sync::atomic::Ordering::SeqCst))
        });
        if let Some(s) = leader.and_then(|i| sealers[i].take()) {
            s.stop();
        }
        for i in 60..80 {
            app.transfer(a, b, "1.00", &format!("w{i}")).await?;
        }
        wait_until_sealed(&app).await?;
        assert_eq!(leaders(&sealers), 1, "a new leader took over");
    }
    let journaled: u64 = service::entity::journal::Entity::find().count(&app.db).await?;
    let posted: u64 = service::entity::transfer::Entity::find().count(&app.db).await?;
    assert_eq!(journaled, posted);
    for s in sealers.into_iter().flatten() {
        s.stop();
    }
    let v = service::verify::verify(&app.ledger).await?;
    ensure!(v.ok() && v.leaves_checked == posted, "{:?}", v.problems);
    app.assert_invariants().await
}

fn leaders(sealers: &[Option<service::seal::Sealer>]) -> usize {
    sealers
        .iter()
        .flatten()
        .filter(|s| s.is_leader.load(std::sync::atomic::Ordering::SeqCst))
        .count()
}

/// Waits (bounded) until the sealer queue is empty.
async fn wait_until_sealed(app: &TestApp) -> Result<()> {
    for _ in 0..200 {
        let queued: u64 = service::entity::unsealed::Entity::find().count(&app.db).await?;
        if queued == 0 {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    anyhow::bail!("the sealer did not keep up within 10 s")
}
