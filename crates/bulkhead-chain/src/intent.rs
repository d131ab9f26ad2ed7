//! From the wire record a strategy passed ([`bulkhead_abi::ChainIntent`]) to
//! the host's [`Intent`]: the contract named in the run config, `self` and
//! contract-name arguments replaced by addresses, a `deadline_in` noted for
//! the client. Unknown names are refused naming the field; nothing here
//! trusts the record beyond what `ChainIntent::decode` already checked.

use bulkhead_abi::{ArgKind, ChainIntent, Reason};

use crate::types::{Address, ContractBook, Intent, Refusal, U256};

fn malformed(field: String, message: String) -> Refusal {
    Refusal::plain(Reason::ChainMalformed, field, message)
}

fn name_of(bytes: &[u8]) -> &str {
    let n = bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len());
    std::str::from_utf8(&bytes[..n]).unwrap_or("")
}

/// Resolve `wire` for the strategy whose account is `account`.
pub fn resolve(wire: &ChainIntent, id: u64, book: &ContractBook, account: Address) -> Result<Intent, Refusal> {
    let name = std::str::from_utf8(wire.contract_name()).unwrap_or("");
    let contract = book.index_of(name).ok_or_else(|| {
        let mut r = malformed("contract".into(), format!("no contract named `{name}` in the run's [chain] config"));
        r.reason = Reason::ChainContractNotAllowed;
        r.requested = name.into();
        r
    })?;
    let mut args = Vec::with_capacity(wire.words().len());
    let mut deadline_in = None;
    for (i, w) in wire.words().iter().enumerate() {
        let v = match wire.arg_kinds[i] {
            ArgKind::Word => U256::from_be_bytes(*w),
            ArgKind::SelfAccount => U256::from_be_slice(account.as_slice()),
            ArgKind::Contract => {
                let n = name_of(w);
                let c = book.index_of(n).and_then(|c| book.get(c)).ok_or_else(|| {
                    malformed(format!("args[{i}]"), format!("no contract named `{n}` in the run's [chain] config"))
                })?;
                U256::from_be_slice(c.address.as_slice())
            }
            ArgKind::DeadlineIn => {
                if deadline_in.is_some() {
                    return Err(malformed(format!("args[{i}]"), "more than one deadline_in argument".into()));
                }
                let secs = U256::from_be_bytes(*w);
                let secs = u64::try_from(secs)
                    .map_err(|_| malformed(format!("args[{i}]"), format!("deadline_in {secs} s does not fit u64")))?;
                deadline_in = Some((i, secs));
                U256::ZERO
            }
        };
        args.push(v);
    }
    Ok(Intent {
        id,
        tag: wire.tag,
        contract,
        selector: wire.selector,
        args,
        value: U256::from(wire.value),
        deadline_in,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ContractInfo, ContractKind};

    fn book() -> ContractBook {
        ContractBook {
            contracts: vec![
                ContractInfo {
                    name: "usdc".into(),
                    address: Address::repeat_byte(1),
                    kind: ContractKind::Token { decimals: 6 },
                },
                ContractInfo { name: "pool".into(), address: Address::repeat_byte(2), kind: ContractKind::Other },
            ],
        }
    }

    fn wire(contract: &str, kinds: &[(ArgKind, [u8; 32])]) -> ChainIntent {
        let mut c = [0u8; 32];
        c[..contract.len()].copy_from_slice(contract.as_bytes());
        let mut i = ChainIntent {
            contract: c,
            selector: [9, 5, 0xea, 0xb3],
            nargs: kinds.len() as u8,
            arg_kinds: [ArgKind::Word; 8],
            value: 0,
            tag: 4,
            args: [[0; 32]; 8],
        };
        for (n, (k, w)) in kinds.iter().enumerate() {
            i.arg_kinds[n] = *k;
            i.args[n] = *w;
        }
        i
    }

    #[test]
    fn names_and_self_become_addresses_unknown_names_are_refused_by_field() {
        let me = Address::repeat_byte(0xaa);
        let mut pool = [0u8; 32];
        pool[..4].copy_from_slice(b"pool");
        let mut five = [0u8; 32];
        five[31] = 5;
        let w =
            wire("usdc", &[(ArgKind::Contract, pool), (ArgKind::SelfAccount, [0; 32]), (ArgKind::DeadlineIn, five)]);
        let i = resolve(&w, 7, &book(), me).unwrap();
        assert_eq!(i.args[0], U256::from_be_slice(Address::repeat_byte(2).as_slice()));
        assert_eq!(i.args[1], U256::from_be_slice(me.as_slice()));
        assert_eq!(i.deadline_in, Some((2, 5)));
        assert_eq!(i.args_at(100)[2], U256::from(105u64));
        let mut evil = [0u8; 32];
        evil[..4].copy_from_slice(b"evil");
        let e = resolve(&wire("usdc", &[(ArgKind::Contract, evil)]), 1, &book(), me).unwrap_err();
        assert_eq!((e.reason, e.field.as_str()), (Reason::ChainMalformed, "args[0]"));
        let e = resolve(&wire("vault", &[]), 1, &book(), me).unwrap_err();
        assert_eq!((e.reason, e.field.as_str()), (Reason::ChainContractNotAllowed, "contract"));
    }
}
