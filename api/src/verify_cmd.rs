//! `tally verify`: the offline audit, with a progress line on a terminal.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use crate::config::VerifyArgs;
use service::seal::digest::Digest;
use service::verify::Progress;

pub async fn run(args: VerifyArgs) -> Result<ExitCode, String> {
    let digest = match &args.digest {
        Some(path) => Some(read_digest(path)?),
        None => None,
    };
    if let Some(d) = &digest
        && !d.signature_is_valid()
    {
        println!("FAIL: the saved digest's signature does not verify (the file was altered)");
        return Ok(ExitCode::FAILURE);
    }
    // Read-only: no migrations, so an auditor's read-only role is enough.
    let ledger = service::Ledger::open(&args.database_url, false)
        .await
        .map_err(|e| format!("cannot open database: {e}"))?;
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut report = |p: Progress| {
        eprint!("\r{}", progress_line(p, started.elapsed().as_secs_f64()));
        let _ = std::io::stderr().flush();
    };
    let progress: Option<&mut (dyn FnMut(Progress) + Send)> = if tty { Some(&mut report) } else { None };
    let v = service::verify::verify_with(&ledger, digest.as_ref(), progress)
        .await
        .map_err(|e| format!("verification aborted: {e}"))?;
    if tty {
        eprintln!();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "checked {} accounts, {} entries, {} transfers, {} journal leaves, {} blocks in {secs:.2}s ({:.0} entries/s)",
        v.accounts_checked,
        v.entries_checked,
        v.transfers_checked,
        v.leaves_checked,
        v.blocks_checked,
        v.entries_checked as f64 / secs.max(1e-9)
    );
    if let Some(d) = &digest {
        println!(
            "saved digest: height {} tree size {} signed by {}",
            d.height,
            d.tree_size,
            hex::encode(d.public_key)
        );
    }
    for p in &v.problems {
        let account = p.account_id.map(|a| format!(" account {a}")).unwrap_or_default();
        let transfer = p.transfer_id.map(|t| format!(" transfer {t}")).unwrap_or_default();
        let seq = p.sequence.map(|s| format!(" sequence {s}")).unwrap_or_default();
        println!("PROBLEM{account}{transfer}{seq}: {}", p.message);
    }
    match v.ok() {
        true => {
            println!("OK: the ledger is consistent");
            Ok(ExitCode::SUCCESS)
        }
        false => {
            println!("FAIL: {} problem(s)", v.problems.len());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn read_digest(path: &std::path::Path) -> Result<Digest, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    Digest::from_json(&json).ok_or_else(|| format!("{}: not a saved ledgerDigest", path.display()))
}

fn progress_line(p: Progress, elapsed: f64) -> String {
    let rate = p.entries_checked as f64 / elapsed.max(1e-9);
    let left = match p.entries_checked {
        0 => "–".to_owned(),
        _ => format!(
            "{:.0}s",
            p.entries_total.saturating_sub(p.entries_checked) as f64 / rate.max(1.0)
        ),
    };
    let pct = 100.0 * p.entries_checked as f64 / (p.entries_total.max(1) as f64);
    let width = 30;
    let filled = ((pct / 100.0) * width as f64) as usize;
    format!(
        "[{}{}] {pct:5.1}% {}/{} entries, {rate:.0}/s, ETA {left} ",
        "#".repeat(filled.min(width)),
        " ".repeat(width - filled.min(width)),
        p.entries_checked,
        p.entries_total
    )
}
