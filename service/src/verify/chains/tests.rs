//! The chain walk on hand-made entries: order, gaps, the bounded buffer.

use super::*;

fn account(entries: i64, balance: i64) -> Account {
    Account {
        id: Uuid::from_u128(7),
        currency: "USD".into(),
        balance: Decimal::from(balance),
        held_balance: Decimal::ZERO,
        entry_count: entries,
    }
}

/// A valid chain of `n` deposits of 1 into one account.
fn chain(n: i64) -> Vec<Entry> {
    chain_at(n, |seq| seq)
}

/// `n` deposits of 1, entry `seq` made at second `at(seq)`, every hash right.
fn chain_at(n: i64, at: impl Fn(i64) -> i64) -> Vec<Entry> {
    let mut previous = ZERO_HASH.to_vec();
    (1..=n)
        .map(|seq| {
            let (amount, after) = ("1".to_owned(), seq.to_string());
            let created_at = DateTime::<Utc>::from_timestamp(1_700_000_000 + at(seq), 0).unwrap();
            let hash = entry_hash(&EntryFields {
                previous_hash: &previous,
                account_id: Uuid::from_u128(7),
                sequence: seq,
                transfer_id: Uuid::from_u128(seq as u128),
                amount: &amount,
                balance_after: &after,
                created_at,
                effective_at: None,
            })
            .to_vec();
            Entry {
                account_id: Uuid::from_u128(7),
                sequence: seq,
                transfer_id: Uuid::from_u128(seq as u128),
                amount: Decimal::ONE,
                balance_after: Decimal::from(seq),
                amount_text: amount,
                balance_text: after,
                created_at,
                effective_at: None,
                previous_hash: std::mem::replace(&mut previous, hash.clone()),
                hash,
            }
        })
        .collect()
}

fn run(entries: Vec<Entry>, account_row: Account) -> (Verification, bool) {
    let mut v = Verification::default();
    let mut chains = Chains::new(vec![account_row]);
    for e in entries {
        chains.offer(e, &mut v);
    }
    let gaps = chains.finish(&mut BTreeMap::new(), &mut v);
    (v, gaps)
}

#[test]
fn entries_out_of_order_still_make_a_valid_chain() {
    let mut entries = chain(4);
    entries.swap(0, 2);
    entries.swap(1, 3);
    let (v, gaps) = run(entries, account(4, 4));
    assert!(v.ok() && !gaps, "{:?}", v.problems);
    assert_eq!(v.entries_checked, 4);
}

#[test]
fn an_entry_earlier_than_its_predecessor_is_named() {
    // Hashes and balances are right; only the order of times is not (the
    // binary search of `balanceAt` would go wrong on such a chain).
    let entries = chain_at(4, |seq| if seq == 3 { 1 } else { seq });
    let (v, _) = run(entries, account(4, 4));
    assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
    assert_eq!(v.problems[0].sequence, Some(3));
    assert!(
        v.problems[0].message.starts_with("created_at "),
        "{}",
        v.problems[0].message
    );
}

#[test]
fn equal_times_are_fine() {
    let entries = chain_at(4, |_| 5);
    let (v, _) = run(entries, account(4, 4));
    assert!(v.ok(), "{:?}", v.problems);
}

#[test]
fn a_missing_entry_is_named_by_its_sequence() {
    let mut entries = chain(4);
    entries.remove(1);
    let (v, gaps) = run(entries, account(4, 4));
    assert!(gaps);
    assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
    assert_eq!(v.problems[0].sequence, Some(2));
    assert_eq!(v.problems[0].message, "entry 2 is missing (found entry 3 next)");
}

#[test]
fn the_waiting_buffer_is_bounded() {
    let mut entries = chain(3);
    let template = entries.pop().unwrap();
    // Entry 1 never comes; far more later entries than any reordering explains.
    let later = (2..=(MAX_WAITING as i64 + 2)).map(|seq| Entry {
        sequence: seq,
        previous_hash: template.previous_hash.clone(),
        hash: template.hash.clone(),
        amount_text: template.amount_text.clone(),
        balance_text: template.balance_text.clone(),
        ..template
    });
    let mut v = Verification::default();
    let mut chains = Chains::new(vec![account(0, 0)]);
    for e in later {
        chains.offer(e, &mut v);
    }
    let chain = chains.by_account.values().next().unwrap();
    assert!(chain.waiting.is_empty() && chain.broken && chain.gapped);
    assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
    assert_eq!(v.problems[0].message, "entry 1 is missing (found entry 2 next)");
}
