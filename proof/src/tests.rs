use super::*;
use sha2::{Digest, Sha256};

fn leaves(n: usize) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(format!("transfer-{i}").as_bytes())).collect()
}

#[test]
fn sha256_matches_the_reference_implementation() {
    for len in [0usize, 1, 3, 55, 56, 63, 64, 65, 119, 120, 1000] {
        let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let expected: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!(sha256(&data), expected, "length {len}");
    }
}

#[test]
fn frontier_root_equals_the_recursive_root() {
    let all = leaves(70);
    let mut f = Frontier::default();
    assert_eq!(f.root(), empty_root());
    for (i, leaf) in all.iter().enumerate() {
        f.push(*leaf);
        assert_eq!(f.root(), root(&all[..=i]), "size {}", i + 1);
        assert_eq!(Frontier::from_bytes(&f.to_bytes()), Some(f.clone()));
    }
}

#[test]
fn every_inclusion_proof_verifies_and_tampering_fails() {
    for n in 1..=33 {
        let all = leaves(n);
        let r = root(&all);
        for i in 0..n {
            let path = inclusion_path(&all, i);
            assert!(verify_inclusion(&all[i], i, n, &path, &r), "n={n} i={i}");
            assert!(!verify_inclusion(&leaf_hash(b"forged"), i, n, &path, &r));
            if let Some(first) = path.first() {
                let mut bad = path.clone();
                bad[0] = node_hash(first, first);
                assert!(!verify_inclusion(&all[i], i, n, &bad, &r), "n={n} i={i}");
            }
            if n > 1 {
                assert!(!verify_inclusion(&all[i], (i + 1) % n, n, &path, &r) || all[i] == all[(i + 1) % n]);
            }
        }
    }
}

#[test]
fn every_consistency_proof_verifies_and_tampering_fails() {
    let all = leaves(40);
    for n in 1..=40 {
        for m in 1..=n {
            let proof = consistency_path(&all[..n], m);
            let (rm, rn) = (root(&all[..m]), root(&all[..n]));
            assert!(verify_consistency(m, n, &proof, &rm, &rn), "m={m} n={n}");
            if m < n {
                assert!(!verify_consistency(m, n, &proof, &leaf_hash(b"x"), &rn), "m={m} n={n}");
                let mut bad = proof.clone();
                if let Some(last) = bad.last_mut() {
                    *last = leaf_hash(b"tampered");
                    assert!(!verify_consistency(m, n, &bad, &rm, &rn), "m={m} n={n}");
                }
            }
        }
    }
}

#[test]
fn a_rewritten_prefix_is_not_consistent() {
    let all = leaves(20);
    let mut rewritten = all.clone();
    rewritten[3] = leaf_hash(b"rewritten");
    let proof = consistency_path(&rewritten, 8);
    assert!(!verify_consistency(8, 20, &proof, &root(&all[..8]), &root(&rewritten)));
}
