//! Verification of Tally's journal proofs: a client can vendor this crate
//! (or port its ~200 lines) and check, on its own, that a transfer is in the
//! journal and that the journal only ever grew. Its one dependency is the
//! RustCrypto `sha2` crate: a verifier is more trustworthy hashing with a
//! vetted, widely used SHA-256 than with one of its own.
//!
//! The tree is the Merkle tree of RFC 9162 (Certificate Transparency v2),
//! over SHA-256: a leaf hashes as `SHA-256(0x00 || leaf)`, an interior node as
//! `SHA-256(0x01 || left || right)`, and a tree of n leaves splits at the
//! largest power of two below n. Tally's leaves are transfer hashes, in the
//! order the sealer journaled them.
//!
//! ```
//! use proof::{leaf_hash, root, inclusion_path, verify_inclusion};
//! let leaves: Vec<[u8; 32]> = (0u8..5).map(|i| leaf_hash(&[i])).collect();
//! let path = inclusion_path(&leaves, 3);
//! assert!(verify_inclusion(&leaves[3], 3, 5, &path, &root(&leaves)));
//! ```

use sha2::Digest;

/// SHA-256 of `data` (the `sha2` crate; hardware-accelerated where available).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut buf = Vec::with_capacity(data.len() + 1);
    buf.push(0);
    buf.extend_from_slice(data);
    sha256(&buf)
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 1;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    sha256(&buf)
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH(D[n]) over already leaf-hashed entries.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]): the audit path of leaf `index` (RFC 9162 §2.1.3.1).
pub fn inclusion_path(leaves: &[Hash], index: usize) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 || index >= n {
        return Vec::new();
    }
    let k = split(n);
    let (mut path, sibling) = match index < k {
        true => (inclusion_path(&leaves[..k], index), root(&leaves[k..])),
        false => (inclusion_path(&leaves[k..], index - k), root(&leaves[..k])),
    };
    path.push(sibling);
    path
}

/// PROOF(m, D[n]): that the first `m` leaves are a prefix of all (RFC 9162 §2.1.4.1).
pub fn consistency_path(leaves: &[Hash], m: usize) -> Vec<Hash> {
    if m == 0 || m >= leaves.len() {
        return Vec::new();
    }
    subproof(m, leaves, true)
}

fn subproof(m: usize, leaves: &[Hash], whole: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if whole { Vec::new() } else { vec![root(leaves)] };
    }
    let k = split(n);
    if m <= k {
        let mut p = subproof(m, &leaves[..k], whole);
        p.push(root(&leaves[k..]));
        p
    } else {
        let mut p = subproof(m - k, &leaves[k..], false);
        p.push(root(&leaves[..k]));
        p
    }
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: usize, size: usize, path: &[Hash], expected_root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && &r == expected_root
}

/// Checks a consistency proof between a tree of `first` leaves with root
/// `first_root` and one of `second` leaves with root `second_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(first: usize, second: usize, path: &[Hash], first_root: &Hash, second_root: &Hash) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return path.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return path.is_empty();
    }
    let mut path: Vec<Hash> = path.to_vec();
    if first.is_power_of_two() {
        path.insert(0, *first_root);
    }
    let Some((head, rest)) = path.split_first() else {
        return false;
    };
    let (mut f_n, mut s_n) = (first - 1, second - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut fr, mut sr) = (*head, *head);
    for c in rest {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    &fr == first_root && &sr == second_root && s_n == 0
}

/// The right edge of a tree: the roots of its perfect subtrees, largest
/// first. Appending a leaf is O(log n) and the root is their fold, so a
/// sealer (or a verifier streaming the journal) needs O(log n) memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    /// (height, hash): a perfect subtree of 2^height leaves.
    nodes: Vec<(u32, Hash)>,
    size: u64,
}

impl Frontier {
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn push(&mut self, leaf: Hash) {
        let mut node = (0u32, leaf);
        while let Some(&(h, left)) = self.nodes.last() {
            if h != node.0 {
                break;
            }
            self.nodes.pop();
            node = (h + 1, node_hash(&left, &node.1));
        }
        self.nodes.push(node);
        self.size += 1;
    }

    /// MTH of everything pushed so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }

    /// Serialised as `size (8 bytes BE)` then `height (4 bytes BE) || hash` per node.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.size.to_be_bytes().to_vec();
        for (h, hash) in &self.nodes {
            out.extend_from_slice(&h.to_be_bytes());
            out.extend_from_slice(hash);
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (size, mut rest) = bytes.split_at_checked(8)?;
        let size = u64::from_be_bytes(size.try_into().ok()?);
        let mut nodes = Vec::new();
        while !rest.is_empty() {
            let (h, tail) = rest.split_at_checked(4)?;
            let (hash, tail) = tail.split_at_checked(32)?;
            nodes.push((u32::from_be_bytes(h.try_into().ok()?), hash.try_into().ok()?));
            rest = tail;
        }
        Some(Frontier { nodes, size })
    }
}

#[cfg(test)]
mod tests;
