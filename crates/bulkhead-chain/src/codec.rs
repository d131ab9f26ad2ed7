//! Byte layouts of what the chain reported ([`SimOutcome`], [`Mined`]) as
//! the engine journals them: the inputs a replay re-derives every chain
//! decision from, without a node. Decoding is total: hostile bytes give an
//! error naming the field, never a panic; lists are bounded.

use crate::types::{Address, I256, MAX_REVERT_BYTES, Mined, SimOutcome, U256};

/// Most entries a journalled list (token deltas, approvals) may hold.
pub const MAX_LIST: usize = 256;

/// A journalled chain payload that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {field} at byte {offset}: {problem}")]
pub struct CodecError {
    pub what: &'static str,
    pub field: &'static str,
    pub offset: usize,
    pub problem: &'static str,
}

struct Rd<'a> {
    what: &'static str,
    b: &'a [u8],
    at: usize,
}

impl<'a> Rd<'a> {
    fn err(&self, field: &'static str, problem: &'static str) -> CodecError {
        CodecError { what: self.what, field, offset: self.at, problem }
    }
    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], CodecError> {
        let s = self.b.get(self.at..self.at.saturating_add(n)).ok_or_else(|| self.err(field, "payload too short"))?;
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, CodecError> {
        Ok(self.take(field, 1)?[0])
    }
    fn u16(&mut self, field: &'static str) -> Result<u16, CodecError> {
        let s = self.take(field, 2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u64(&mut self, field: &'static str) -> Result<u64, CodecError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(field, 8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn word(&mut self, field: &'static str) -> Result<[u8; 32], CodecError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(field, 32)?);
        Ok(a)
    }
    fn bool(&mut self, field: &'static str) -> Result<bool, CodecError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(CodecError { what: self.what, field, offset: self.at - 1, problem: "must be 0 or 1" }),
        }
    }
    fn count(&mut self, field: &'static str) -> Result<usize, CodecError> {
        let n = usize::from(self.u16(field)?);
        if n > MAX_LIST {
            return Err(CodecError { what: self.what, field, offset: self.at - 2, problem: "more than 256 entries" });
        }
        Ok(n)
    }
    fn deltas(&mut self) -> Result<Vec<(usize, I256)>, CodecError> {
        let n = self.count("token delta count")?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let i = usize::from(self.u16("token index")?);
            v.push((i, I256::from_be_bytes(self.word("token delta")?)));
        }
        Ok(v)
    }
    fn end(&self) -> Result<(), CodecError> {
        if self.at == self.b.len() { Ok(()) } else { Err(self.err("end", "trailing bytes")) }
    }
}

fn put_deltas(out: &mut Vec<u8>, d: &[(usize, I256)]) {
    let d = &d[..d.len().min(MAX_LIST)];
    out.extend_from_slice(&(d.len() as u16).to_le_bytes());
    for (i, v) in d {
        out.extend_from_slice(&(u16::try_from(*i).unwrap_or(u16::MAX)).to_le_bytes());
        out.extend_from_slice(&v.to_be_bytes::<32>());
    }
}

/// `SimOutcome`: success u8, gas u64, block u64, timestamp u64, revert
/// length u16 + bytes (≤ 256), deltas (count u16, then index u16 + i256 BE),
/// native_out u256 BE, approvals (count u16, then token u16 + spender [20] +
/// value u256 BE), quote flag u8 (+ u256 BE).
pub fn encode_sim(s: &SimOutcome, out: &mut Vec<u8>) {
    out.clear();
    out.push(u8::from(s.success));
    out.extend_from_slice(&s.gas_used.to_le_bytes());
    out.extend_from_slice(&s.block_number.to_le_bytes());
    out.extend_from_slice(&s.block_timestamp.to_le_bytes());
    let revert = &s.revert[..s.revert.len().min(MAX_REVERT_BYTES)];
    out.extend_from_slice(&(revert.len() as u16).to_le_bytes());
    out.extend_from_slice(revert);
    put_deltas(out, &s.token_deltas);
    out.extend_from_slice(&s.native_out.to_be_bytes::<32>());
    let ap = &s.approvals[..s.approvals.len().min(MAX_LIST)];
    out.extend_from_slice(&(ap.len() as u16).to_le_bytes());
    for (t, spender, v) in ap {
        out.extend_from_slice(&(u16::try_from(*t).unwrap_or(u16::MAX)).to_le_bytes());
        out.extend_from_slice(spender.as_slice());
        out.extend_from_slice(&v.to_be_bytes::<32>());
    }
    match s.pool_quote {
        Some(q) => {
            out.push(1);
            out.extend_from_slice(&q.to_be_bytes::<32>());
        }
        None => out.push(0),
    }
}

pub fn decode_sim(b: &[u8]) -> Result<SimOutcome, CodecError> {
    let mut r = Rd { what: "simulation", b, at: 0 };
    let success = r.bool("success")?;
    let gas_used = r.u64("gas")?;
    let block_number = r.u64("block")?;
    let block_timestamp = r.u64("timestamp")?;
    let n = usize::from(r.u16("revert length")?);
    if n > MAX_REVERT_BYTES {
        return Err(r.err("revert length", "more than 256 bytes"));
    }
    let revert = r.take("revert", n)?.to_vec();
    let token_deltas = r.deltas()?;
    let native_out = U256::from_be_bytes(r.word("native_out")?);
    let n = r.count("approval count")?;
    let mut approvals = Vec::with_capacity(n);
    for _ in 0..n {
        let t = usize::from(r.u16("approval token")?);
        let spender = Address::from_slice(r.take("approval spender", 20)?);
        approvals.push((t, spender, U256::from_be_bytes(r.word("approval value")?)));
    }
    let pool_quote = if r.bool("quote flag")? { Some(U256::from_be_bytes(r.word("quote")?)) } else { None };
    r.end()?;
    Ok(SimOutcome {
        success,
        revert,
        gas_used,
        block_number,
        block_timestamp,
        token_deltas,
        native_out,
        approvals,
        pool_quote,
    })
}

/// `Mined`: success u8, block u64, gas u64, deltas as in [`encode_sim`].
pub fn encode_mined(m: &Mined, out: &mut Vec<u8>) {
    out.clear();
    out.push(u8::from(m.success));
    out.extend_from_slice(&m.block_number.to_le_bytes());
    out.extend_from_slice(&m.gas_used.to_le_bytes());
    put_deltas(out, &m.token_deltas);
}

pub fn decode_mined(b: &[u8]) -> Result<Mined, CodecError> {
    let mut r = Rd { what: "receipt", b, at: 0 };
    let success = r.bool("success")?;
    let block_number = r.u64("block")?;
    let gas_used = r.u64("gas")?;
    let token_deltas = r.deltas()?;
    r.end()?;
    Ok(Mined { success, block_number, gas_used, token_deltas })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage_by_field() {
        let s = SimOutcome {
            success: true,
            revert: vec![1, 2, 3],
            gas_used: 90_000,
            block_number: 7,
            block_timestamp: 1_700_000_000,
            token_deltas: vec![(0, I256::try_from(-5i64).unwrap()), (1, I256::try_from(1993i64).unwrap())],
            native_out: U256::ZERO,
            approvals: vec![(0, Address::repeat_byte(7), U256::from(10u64))],
            pool_quote: Some(U256::from(1993u64)),
        };
        let mut b = Vec::new();
        encode_sim(&s, &mut b);
        assert_eq!(decode_sim(&b).unwrap(), s);
        for cut in 0..b.len() {
            assert!(decode_sim(&b[..cut]).is_err());
        }
        b.push(0);
        assert_eq!(decode_sim(&b).unwrap_err().field, "end");
        let m = Mined { success: false, block_number: 9, gas_used: 21_000, token_deltas: vec![] };
        encode_mined(&m, &mut b);
        assert_eq!(decode_mined(&b).unwrap(), m);
        b[0] = 9;
        assert_eq!(decode_mined(&b).unwrap_err().field, "success");
    }
}
