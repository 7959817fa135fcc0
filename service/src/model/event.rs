//! What webhooks report: the event kinds, the JSON body of each, and the
//! signature that lets a receiver trust one.
//!
//! Body: `{"id": "<event uuid>", "type": "transfer.posted", "createdAt":
//! "<RFC 3339>", "data": {…}}`, amounts as decimal strings at their
//! currency's scale, like the GraphQL API. The signature header is
//! `Tally-Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<body>")>`: the receiver recomputes it over the raw body and refuses
//! a mismatch or a `t` older than its tolerance (replays).

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{KeyInit, Mac};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use entity::{account, entry, hold, transfer};

/// Every kind of event, by its wire name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    TransferPosted,
    HoldCreated,
    HoldCaptured,
    HoldVoided,
    HoldExpired,
    AccountCreated,
    AccountArchived,
    BalanceAlert,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        Self::TransferPosted,
        Self::HoldCreated,
        Self::HoldCaptured,
        Self::HoldVoided,
        Self::HoldExpired,
        Self::AccountCreated,
        Self::AccountArchived,
        Self::BalanceAlert,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TransferPosted => "transfer.posted",
            Self::HoldCreated => "hold.created",
            Self::HoldCaptured => "hold.captured",
            Self::HoldVoided => "hold.voided",
            Self::HoldExpired => "hold.expired",
            Self::AccountCreated => "account.created",
            Self::AccountArchived => "account.archived",
            Self::BalanceAlert => "balance.alert",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// An event ready for the outbox: its kind, the client accounts it concerns
/// (which order its deliveries), and its body. A `transfer.posted` event
/// stores the transfer it reports instead of its body: the body is derived
/// from the transfer's and its entries' rows ([`transfer_posted_body`]),
/// which never change (append-only), so every attempt carries the same
/// body, and the outbox does not store a second copy of every transfer.
#[derive(Clone, Debug)]
pub struct Event {
    pub id: Uuid,
    pub kind: EventKind,
    pub accounts: (Option<Uuid>, Option<Uuid>),
    /// The body (not stored when derived from `transfer_id`).
    pub body: String,
    pub transfer_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl Event {
    fn new(kind: EventKind, accounts: (Option<Uuid>, Option<Uuid>), data: impl Serialize, at: DateTime<Utc>) -> Self {
        let id = Uuid::now_v7();
        let body = envelope(id, kind, at, data);
        Event {
            id,
            kind,
            accounts,
            body,
            transfer_id: None,
            created_at: at,
        }
    }

    /// A posted transfer with its entries (the `accounts` are its client
    /// sides: world and exchange accounts do not order deliveries). The
    /// outbox stores only the transfer's id; the body built here is the one
    /// [`transfer_posted_body`] derives from the committed rows, which the
    /// writing instance keeps in memory for its worker.
    pub fn transfer_posted(
        t: &transfer::Model,
        entries: &[&entry::Model],
        accounts: (Option<Uuid>, Option<Uuid>),
    ) -> Self {
        let id = Uuid::now_v7();
        Event {
            id,
            kind: EventKind::TransferPosted,
            accounts,
            body: transfer_posted_body(id, t.created_at, t, entries),
            transfer_id: Some(t.id),
            created_at: t.created_at,
        }
    }

    /// What the outbox stores as the body (moved out, not copied): nothing
    /// for an event derived from its transfer.
    pub fn into_stored_body(self) -> String {
        match self.transfer_id {
            Some(_) => String::new(),
            None => self.body,
        }
    }

    pub fn hold(kind: EventKind, h: &hold::Model, accounts: (Option<Uuid>, Option<Uuid>)) -> Self {
        let data = json!({
            "hold": {
                "id": h.id, "status": h.status.as_str(), "amount": h.amount.to_string(),
                "capturedAmount": h.captured_amount.to_string(), "currency": h.currency,
                "fromAccountId": h.debit_account_id, "toAccountId": h.credit_account_id,
                "expiresAt": time(&h.expires_at), "idempotencyKey": h.idempotency_key,
                "description": h.description, "metadata": h.metadata,
            }
        });
        Self::new(kind, accounts, data, h.updated_at)
    }

    pub fn account(kind: EventKind, a: &account::Model, at: DateTime<Utc>) -> Self {
        let data = json!({
            "account": {
                "id": a.id, "code": a.code, "currency": a.currency, "status": a.status.as_str(),
                "balance": a.balance.to_string(), "metadata": a.metadata, "owner": a.owner,
            }
        });
        Self::new(kind, (Some(a.id), None), data, at)
    }

    /// An account's available balance crossed an alert's threshold: into
    /// the alert's condition (`TRIGGERED`) or out of it (`RESOLVED`).
    pub fn balance_alert(alert: &entity::balance_alert::Model, crossing: &Crossing, at: DateTime<Utc>) -> Self {
        let data = json!({
            "alert": {
                "id": alert.id, "condition": alert.condition.as_str(), "threshold": alert.threshold.to_string(),
                "accountId": alert.account_id, "currency": alert.currency,
            },
            "accountId": crossing.account_id,
            "currency": crossing.currency,
            "availableBalance": crossing.available.to_string(),
            "state": if crossing.triggered { "TRIGGERED" } else { "RESOLVED" },
        });
        Self::new(EventKind::BalanceAlert, (Some(crossing.account_id), None), data, at)
    }
}

/// The body of `transfer.posted` event `id`, created at `at`: the transfer
/// and its entries (the debit side's first).
pub fn transfer_posted_body(id: Uuid, at: DateTime<Utc>, t: &transfer::Model, entries: &[&entry::Model]) -> String {
    let mut entries = entries.to_vec();
    entries.sort_by_key(|e| e.account_id != t.debit_account_id);
    let data = PostedData {
        transfer: TransferBody {
            id: t.id,
            kind: t.kind.as_str(),
            amount: t.amount.to_string(),
            currency: &t.currency,
            from_account_id: t.debit_account_id,
            to_account_id: t.credit_account_id,
            idempotency_key: &t.idempotency_key,
            description: t.description.as_deref(),
            metadata: t.metadata.as_ref(),
            reversal_of: t.reversal_of,
            hold_id: t.hold_id,
            created_at: time(&t.created_at),
            effective_at: t.effective_at.as_ref().map(time),
        },
        entries: entries
            .iter()
            .map(|e| EntryBody {
                account_id: e.account_id,
                sequence: e.sequence,
                amount: e.amount.to_string(),
                balance_after: e.balance_after.to_string(),
                created_at: time(&e.created_at),
            })
            .collect(),
    };
    envelope(id, EventKind::TransferPosted, at, data)
}

/// An event's body: written straight from the rows (no intermediate JSON
/// tree).
fn envelope(id: Uuid, kind: EventKind, at: DateTime<Utc>, data: impl Serialize) -> String {
    let envelope = Envelope {
        id,
        kind: kind.as_str(),
        created_at: time(&at),
        data,
    };
    serde_json::to_string(&envelope).unwrap_or_else(|e| unreachable!("a body of strings: {e}"))
}

/// `{"id", "type", "createdAt", "data"}`: every event's body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<D> {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    created_at: String,
    data: D,
}

#[derive(Serialize)]
struct PostedData<'a> {
    transfer: TransferBody<'a>,
    entries: Vec<EntryBody>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TransferBody<'a> {
    id: Uuid,
    kind: &'static str,
    amount: String,
    currency: &'a str,
    from_account_id: Uuid,
    to_account_id: Uuid,
    idempotency_key: &'a str,
    description: Option<&'a str>,
    metadata: Option<&'a Value>,
    reversal_of: Option<Uuid>,
    hold_id: Option<Uuid>,
    created_at: String,
    effective_at: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryBody {
    account_id: Uuid,
    sequence: i64,
    amount: String,
    balance_after: String,
    created_at: String,
}

/// The body of a batched POST: `{"events":[<event body>,…]}`, each event's
/// body exactly as a one-event POST would carry it, in delivery order.
pub fn batch_body<'a>(bodies: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from(r#"{"events":["#);
    for (i, body) in bodies.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(body);
    }
    out.push_str("]}");
    out
}

/// One crossing of a threshold by one account's available balance.
#[derive(Clone, Debug)]
pub struct Crossing {
    pub account_id: Uuid,
    pub currency: String,
    pub available: Decimal,
    /// Into the alert's condition (else out of it).
    pub triggered: bool,
}

/// Whether `available` is inside `alert`'s condition.
pub fn in_condition(alert: &entity::balance_alert::Model, available: Decimal) -> bool {
    match alert.condition {
        entity::AlertCondition::Below => available < alert.threshold.0,
        entity::AlertCondition::Above => available > alert.threshold.0,
    }
}

fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The name of the signature header.
pub const SIGNATURE_HEADER: &str = "Tally-Webhook-Signature";

/// On a batched POST, in place of `Tally-Webhook-Id`: how many events it carries.
pub const BATCH_HEADER: &str = "Tally-Webhook-Batch";

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, unix_seconds: i64, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2_011::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix_seconds},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = hmac::Hmac::<sha2_011::Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn the_signature_covers_the_timestamp_and_the_body() {
        let s = signature("whsec", 1_700_000_000, "{}");
        assert!(s.starts_with("t=1700000000,v1="));
        assert_ne!(s, signature("whsec", 1_700_000_001, "{}"));
        assert_ne!(s, signature("whsec", 1_700_000_000, "{ }"));
        assert_ne!(s, signature("other", 1_700_000_000, "{}"));
    }

    #[test]
    fn a_posted_transfer_body_carries_the_transfer_and_its_entries() {
        let at = DateTime::parse_from_rfc3339("2026-12-05T01:02:03.000004Z")
            .unwrap()
            .to_utc();
        let (from, to) = (Uuid::now_v7(), Uuid::now_v7());
        let t = transfer::Model {
            id: Uuid::now_v7(),
            kind: entity::TransferKind::Transfer,
            debit_account_id: from,
            credit_account_id: to,
            amount: Decimal::new(3000, 2).into(),
            currency: "USD".into(),
            idempotency_key: "k-\"1\"".into(),
            reversal_of: None,
            hold_id: None,
            description: Some("rent".into()),
            metadata: Some(json!({ "order": 7 })),
            created_at: at,
            effective_at: None,
            hash: None,
            debit_sequence: Some(2),
            credit_sequence: Some(2),
        };
        let entry = |account_id, amount, after| entry::Model {
            id: Uuid::now_v7(),
            account_id,
            transfer_id: t.id,
            amount: Decimal::new(amount, 2).into(),
            balance_after: Decimal::new(after, 2).into(),
            sequence: 2,
            created_at: at,
            effective_at: None,
            previous_hash: Vec::new(),
            hash: Vec::new(),
        };
        let (debit, credit) = (entry(from, -3000, 7000), entry(to, 3000, 3000));
        let event = Event::transfer_posted(&t, &[&debit, &credit], (Some(from), Some(to)));
        assert!(
            event.clone().into_stored_body().is_empty() && event.transfer_id == Some(t.id) && event.created_at == at
        );
        // The debit side first, whatever order the rows come in.
        let text = transfer_posted_body(event.id, event.created_at, &t, &[&credit, &debit]);
        assert_eq!(text, event.body);
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["id"], json!(event.id));
        assert_eq!(body["type"], "transfer.posted");
        assert_eq!(body["createdAt"], "2026-12-05T01:02:03.000004Z");
        let tr = &body["data"]["transfer"];
        assert_eq!(tr["id"], json!(t.id));
        assert_eq!(tr["kind"], "TRANSFER");
        assert_eq!(tr["amount"], "30.00");
        assert_eq!(tr["fromAccountId"], json!(from));
        assert_eq!(tr["toAccountId"], json!(to));
        assert_eq!(tr["idempotencyKey"], "k-\"1\"");
        assert_eq!(tr["description"], "rent");
        assert_eq!(tr["metadata"], json!({ "order": 7 }));
        assert_eq!(tr["reversalOf"], Value::Null);
        assert_eq!(tr["effectiveAt"], Value::Null);
        let entries = body["data"]["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["amount"], "-30.00");
        assert_eq!(entries[0]["balanceAfter"], "70.00");
        assert_eq!(entries[1]["accountId"], json!(to));
        assert_eq!(entries[1]["sequence"], 2);
        assert_eq!(
            batch_body([text.as_str(), "{}"]),
            format!(r#"{{"events":[{},{{}}]}}"#, text)
        );
    }

    #[test]
    fn kinds_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EventKind::parse("transfer"), None);
    }
}
