//! Function signatures of the policy: `name(type,…)` with static ABI types
//! only, the selector (`keccak256(signature)[..4]`) and the word checks per
//! type. Never accepts a dynamic type (bytes, string, arrays, tuples): an
//! intent carries static words only.

use alloy_primitives::{Address, I256, U256, keccak256};

use crate::types::ContractBook;

/// `approve(address,uint256)`.
pub const APPROVE: [u8; 4] = [0x09, 0x5e, 0xa7, 0xb3];
/// `increaseAllowance(address,uint256)`.
pub const INCREASE_ALLOWANCE: [u8; 4] = [0x39, 0x50, 0x93, 0x51];
/// `swap(address,uint256,uint256,address,uint256)` of a [`crate::ContractKind::PoolV2`].
pub const POOL_SWAP: [u8; 4] = [0xac, 0xf0, 0xae, 0x03];

/// A static ABI type a policy parameter may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    Address,
    Bool,
    /// `uintN`, N in 8..=256, a multiple of 8.
    Uint(u16),
    /// `intN`, N in 8..=256, a multiple of 8.
    Int(u16),
    /// `bytesN`, N in 1..=32 (left-aligned in the word).
    FixedBytes(u8),
}

impl ParamType {
    /// Parse one canonical type name (`uint256`, never the alias `uint`).
    pub fn parse(s: &str) -> Result<ParamType, String> {
        let bits = |rest: &str| -> Option<u16> {
            let n: u16 = rest.parse().ok()?;
            (rest.bytes().all(|b| b.is_ascii_digit()) && (8..=256).contains(&n) && n.is_multiple_of(8)).then_some(n)
        };
        match s {
            "address" => return Ok(ParamType::Address),
            "bool" => return Ok(ParamType::Bool),
            "uint" | "int" => {
                return Err(format!("write `{s}256`: the selector is computed from the canonical type name"));
            }
            _ => {}
        }
        if let Some(rest) = s.strip_prefix("uint")
            && let Some(n) = bits(rest)
        {
            return Ok(ParamType::Uint(n));
        }
        if let Some(rest) = s.strip_prefix("int")
            && let Some(n) = bits(rest)
        {
            return Ok(ParamType::Int(n));
        }
        if let Some(rest) = s.strip_prefix("bytes")
            && let Ok(n) = rest.parse::<u8>()
            && rest.bytes().all(|b| b.is_ascii_digit())
            && (1..=32).contains(&n)
        {
            return Ok(ParamType::FixedBytes(n));
        }
        Err(format!(
            "type `{s}` is not a static ABI type (expected address, bool, uint8..uint256, int8..int256 or bytes1..bytes32)"
        ))
    }

    /// Whether `w` is a clean ABI word of this type (no dirty high bits, a
    /// sign-extended int, a bool of 0 or 1, bytes padded with zeros).
    pub fn fits(self, w: U256) -> bool {
        match self {
            ParamType::Address => (w >> 160usize).is_zero(),
            ParamType::Bool => w <= U256::from(1u8),
            ParamType::Uint(n) => n >= 256 || (w >> usize::from(n)).is_zero(),
            ParamType::Int(n) => {
                if n >= 256 {
                    return true;
                }
                let high = w >> usize::from(n - 1);
                high.is_zero() || high == (U256::MAX >> usize::from(n - 1))
            }
            ParamType::FixedBytes(n) => n >= 32 || (w << (usize::from(n) * 8)).is_zero(),
        }
    }

    /// Whether `le` / `ge` / `allowance` / `deadline` make sense (unsigned amounts).
    pub fn is_uint(self) -> bool {
        matches!(self, ParamType::Uint(_))
    }

    pub fn name(self) -> String {
        match self {
            ParamType::Address => "address".into(),
            ParamType::Bool => "bool".into(),
            ParamType::Uint(n) => format!("uint{n}"),
            ParamType::Int(n) => format!("int{n}"),
            ParamType::FixedBytes(n) => format!("bytes{n}"),
        }
    }
}

/// Parse `name(type,…)`: returns the parameter types. No whitespace (the
/// selector hashes the exact text), at most `max_params` parameters.
pub fn parse_signature(sig: &str, max_params: usize) -> Result<Vec<ParamType>, String> {
    if sig.chars().any(char::is_whitespace) {
        return Err(format!(
            "`{sig}` contains whitespace: write the canonical signature, e.g. `approve(address,uint256)`"
        ));
    }
    let Some((name, rest)) = sig.split_once('(') else {
        return Err(format!("`{sig}` is not a signature `name(type,...)`"));
    };
    let Some(list) = rest.strip_suffix(')') else {
        return Err(format!("`{sig}` must end with `)`"));
    };
    let mut chars = name.chars();
    let ident_start = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$');
    if !ident_start || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
        return Err(format!("`{name}` is not a function name (letters, digits, `_`, `$`)"));
    }
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let types = list.split(',').map(ParamType::parse).collect::<Result<Vec<_>, _>>()?;
    if types.len() > max_params {
        return Err(format!("{} parameters; an intent carries at most {max_params}", types.len()));
    }
    Ok(types)
}

/// The 4-byte selector of a signature.
pub fn selector(sig: &str) -> [u8; 4] {
    let h = keccak256(sig.as_bytes());
    [h[0], h[1], h[2], h[3]]
}

pub fn hex4(s: [u8; 4]) -> String {
    format!("0x{:02x}{:02x}{:02x}{:02x}", s[0], s[1], s[2], s[3])
}

pub fn word_of(a: &Address) -> U256 {
    U256::from_be_slice(a.as_slice())
}

/// The address in a word's low 20 bytes (the caller checks the high bytes).
pub fn address_of(w: U256) -> Address {
    let b = w.to_be_bytes::<32>();
    Address::from_slice(&b[12..])
}

/// A word for humans: addresses checksummed (with the book's name when it
/// names one), ints signed, bytes as hex, amounts in decimal.
pub fn show_word(ty: ParamType, w: U256, book: &ContractBook) -> String {
    match ty {
        ParamType::Address if ty.fits(w) => show_address(&address_of(w), book),
        ParamType::Bool if ty.fits(w) => (if w.is_zero() { "false" } else { "true" }).to_string(),
        ParamType::Int(_) => I256::from_raw(w).to_string(),
        ParamType::FixedBytes(_) | ParamType::Address | ParamType::Bool => format!("{w:#x}"),
        ParamType::Uint(_) => w.to_string(),
    }
}

/// `0xAbC… (name)` when the book names the address, else the checksummed address.
pub fn show_address(a: &Address, book: &ContractBook) -> String {
    match book.by_address(a).and_then(|i| book.get(i)) {
        Some(c) => format!("{a} (`{}`)", c.name),
        None => a.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_of_the_known_functions() {
        assert_eq!(selector("approve(address,uint256)"), APPROVE);
        assert_eq!(selector("increaseAllowance(address,uint256)"), INCREASE_ALLOWANCE);
        assert_eq!(selector("swap(address,uint256,uint256,address,uint256)"), POOL_SWAP);
        assert_eq!(hex4(selector("transfer(address,uint256)")), "0xa9059cbb");
    }

    #[test]
    fn signatures_and_word_fits() {
        assert_eq!(parse_signature("f()", 8).unwrap(), vec![]);
        assert_eq!(
            parse_signature("f(address,bool,uint8,int16,bytes4)", 8).unwrap(),
            vec![ParamType::Address, ParamType::Bool, ParamType::Uint(8), ParamType::Int(16), ParamType::FixedBytes(4)]
        );
        for bad in [
            "f(uint)",
            "f(string)",
            "f(bytes)",
            "f(uint7)",
            "f(uint264)",
            "f (address)",
            "f(address",
            "1f()",
            "f(bytes33)",
            "f(uint256[])",
        ] {
            assert!(parse_signature(bad, 8).is_err(), "{bad}");
        }
        assert!(parse_signature("f(bool,bool,bool,bool,bool,bool,bool,bool,bool)", 8).is_err());
        assert!(ParamType::Address.fits(U256::MAX >> 96usize));
        assert!(!ParamType::Address.fits(U256::MAX >> 95usize));
        assert!(ParamType::Int(8).fits(U256::MAX)); // -1
        assert!(ParamType::Int(8).fits(U256::from(127u8)));
        assert!(!ParamType::Int(8).fits(U256::from(128u8)));
        assert!(ParamType::FixedBytes(4).fits(U256::from(0x12345678u32) << 224usize));
        assert!(!ParamType::FixedBytes(4).fits(U256::from(1u8)));
        assert!(!ParamType::Bool.fits(U256::from(2u8)));
        assert!(ParamType::Uint(256).fits(U256::MAX));
        assert!(!ParamType::Uint(8).fits(U256::from(256u16)));
    }
}
