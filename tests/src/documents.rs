//! GraphQL documents the tests share, and helpers to read their answers.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use uuid::Uuid;

pub const TRANSFER_FIELDS: &str = "id idempotencyKey kind amount currency description metadata createdAt \
    fromAccount { id code balance } toAccount { id code balance } \
    entries { id amount balanceAfter sequence hash previousHash createdAt account { id } transfer { id } }";

pub const DEPOSIT: &str = "mutation($i: DepositInput!) { deposit(input: $i) { id idempotencyKey kind amount currency description metadata createdAt fromAccount { id code balance } toAccount { id code balance } entries { id amount balanceAfter sequence hash previousHash account { id } transfer { id } } } }";
pub const WITHDRAW: &str = "mutation($i: WithdrawInput!) { withdraw(input: $i) { id idempotencyKey kind amount currency fromAccount { id code balance } toAccount { id code balance } entries { amount balanceAfter sequence } } }";
pub const TRANSFER: &str = "mutation($i: TransferInput!) { transfer(input: $i) { id idempotencyKey kind amount currency fromAccount { id balance } toAccount { id balance } entries { amount balanceAfter sequence account { id } } } }";

/// The first error's code of a response that must have failed.
pub fn code_of(body: &Value) -> Result<String> {
    let Some(code) = body["errors"][0]["extensions"]["code"].as_str() else {
        bail!("expected a coded error, got {body}");
    };
    Ok(code.to_owned())
}

pub fn uuid_at(value: &Value) -> Result<Uuid> {
    let text = value.as_str().with_context(|| format!("not a string: {value}"))?;
    Ok(Uuid::parse_str(text)?)
}

pub const POST_TRANSFERS: &str = "mutation($i: PostTransfersInput!) { postTransfers(input: $i) { results { index ok code message transfer { id amount } } transfers { id } accounts { id code balance availableBalance } } }";
pub const SPLIT: &str = "mutation($i: SplitTransferInput!) { splitTransfer(input: $i) { transfers { id amount toAccount { id } } accounts { id balance } } }";
pub const REVERSE: &str = "mutation($i: ReverseTransferInput!) { reverseTransfer(input: $i) { id kind amount reversalOf { id reversals { id amount } } fromAccount { balance } toAccount { balance } } }";
pub const CREATE_HOLD: &str = "mutation($i: CreateHoldInput!) { createHold(input: $i) { id status amount capturedAmount expiresAt fromAccount { balance heldBalance availableBalance } } }";
pub const CAPTURE_HOLD: &str = "mutation($i: CaptureHoldInput!) { captureHold(input: $i) { id status amount capturedAmount fromAccount { balance heldBalance availableBalance } toAccount { balance } } }";
pub const VOID_HOLD: &str = "mutation($i: VoidHoldInput!) { voidHold(input: $i) { id status fromAccount { balance heldBalance availableBalance } } }";

/// Each item's error code (`None`: posted) from a non-atomic `postTransfers` answer's `data`.
pub fn result_codes(data: &Value) -> Vec<Option<&str>> {
    data["postTransfers"]["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["code"].as_str())
        .collect()
}

/// One item of a `postTransfers` input.
pub fn item(from: Uuid, to: Uuid, amount: &str, key: &str) -> Value {
    json!({ "fromAccountId": from, "toAccountId": to, "amount": amount, "idempotencyKey": key })
}
