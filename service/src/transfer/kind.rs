//! What kind of movement a transfer is (stored as its upper-case name).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferKind {
    Deposit,
    Withdrawal,
    Transfer,
    Reversal,
    Capture,
    Sweep,
}

impl TransferKind {
    pub const ALL: [TransferKind; 6] = [
        Self::Deposit,
        Self::Withdrawal,
        Self::Transfer,
        Self::Reversal,
        Self::Capture,
        Self::Sweep,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Deposit => "DEPOSIT",
            Self::Withdrawal => "WITHDRAWAL",
            Self::Transfer => "TRANSFER",
            Self::Reversal => "REVERSAL",
            Self::Capture => "CAPTURE",
            Self::Sweep => "SWEEP",
        }
    }

    pub fn parse(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == kind)
    }
}
