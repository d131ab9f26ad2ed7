//! A tiny wasm binary writer for generated strategy modules: compile bombs
//! and modules at the [`bulkhead_sandbox::ModuleLimits`]. Shared by
//! `tests/it/module_limits.rs` and `examples/compile_bounds.rs`.
//!
//! Every module exports what the ABI requires (`memory`,
//! `bulkhead_abi_version`, `bulkhead_buffer`, `bulkhead_init`,
//! `bulkhead_on_events`, functions 0..4) so that a module under the limits
//! loads and instantiates; extra functions have type `() -> ()`.

#![allow(dead_code)]

/// One extra function: locals declarations `(count, valtype byte)` and the
/// code (without the final `end`).
#[derive(Clone, Default)]
pub struct Body {
    pub locals: Vec<(u32, u8)>,
    pub code: Vec<u8>,
}

#[derive(Clone, Default)]
pub struct Gen {
    pub funcs: Vec<Body>,
    /// `n` extra functions with an empty body, written without
    /// materialising `n` bodies.
    pub tiny_funcs: u32,
    /// Active data segments at offset 0 of memory 0.
    pub data: Vec<Vec<u8>>,
    /// A funcref table of this many initial elements.
    pub table: Option<u32>,
    /// `(segments, items each)`: active element segments at offset 0 of
    /// table 0 referencing function 0.
    pub elems: (u32, u32),
    /// Initial memory pages (default 1).
    pub memory_pages: u32,
    /// One custom section of this many bytes.
    pub custom_bytes: usize,
}

pub const I32: u8 = 0x7f;

pub fn leb(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn sleb(mut v: i64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0);
        out.push(if done { b } else { b | 0x80 });
        if done {
            return;
        }
    }
}

fn section(id: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

fn name(s: &str, out: &mut Vec<u8>) {
    leb(s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

fn body_bytes(locals: &[(u32, u8)], code: &[u8], out: &mut Vec<u8>) {
    let mut b = Vec::with_capacity(code.len() + 16);
    leb(locals.len() as u64, &mut b);
    for (n, t) in locals {
        leb(u64::from(*n), &mut b);
        b.push(*t);
    }
    b.extend_from_slice(code);
    b.push(0x0b);
    leb(b.len() as u64, out);
    out.extend_from_slice(&b);
}

impl Gen {
    pub fn build(&self) -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        // Types: 0 () -> (), 1 () -> i32, 2 (i32) -> i32.
        section(1, &[3, 0x60, 0, 0, 0x60, 0, 1, I32, 0x60, 1, I32, 1, I32], &mut m);
        let extra = self.funcs.len() as u64 + u64::from(self.tiny_funcs);
        let mut f = Vec::new();
        leb(4 + extra, &mut f);
        f.extend_from_slice(&[1, 2, 2, 2]);
        f.extend(std::iter::repeat_n(0u8, extra as usize));
        section(3, &f, &mut m);
        if let Some(n) = self.table {
            let mut t = vec![1, 0x70, 0];
            leb(u64::from(n), &mut t);
            section(4, &t, &mut m);
        }
        let mut mem = vec![1, 0];
        leb(u64::from(self.memory_pages.max(1)), &mut mem);
        section(5, &mem, &mut m);
        let mut e = Vec::new();
        leb(5, &mut e);
        name("memory", &mut e);
        e.extend_from_slice(&[2, 0]);
        for (i, n) in
            ["bulkhead_abi_version", "bulkhead_buffer", "bulkhead_init", "bulkhead_on_events"].iter().enumerate()
        {
            name(n, &mut e);
            e.extend_from_slice(&[0, i as u8]);
        }
        section(7, &e, &mut m);
        let (segs, items) = self.elems;
        if segs > 0 {
            let mut el = Vec::new();
            leb(u64::from(segs), &mut el);
            let mut one = vec![0, 0x41, 0, 0x0b];
            leb(u64::from(items), &mut one);
            one.extend(std::iter::repeat_n(0u8, items as usize));
            for _ in 0..segs {
                el.extend_from_slice(&one);
            }
            section(9, &el, &mut m);
        }
        let mut code = Vec::new();
        leb(4 + extra, &mut code);
        body_bytes(&[], &[0x41, 1], &mut code);
        let mut buf = vec![0x41];
        sleb(16384, &mut buf);
        body_bytes(&[], &buf, &mut code);
        body_bytes(&[], &[0x41, 0], &mut code);
        body_bytes(&[], &[0x41, 0], &mut code);
        for b in &self.funcs {
            body_bytes(&b.locals, &b.code, &mut code);
        }
        for _ in 0..self.tiny_funcs {
            code.extend_from_slice(&[2, 0, 0x0b]);
        }
        section(10, &code, &mut m);
        if !self.data.is_empty() {
            let mut d = Vec::new();
            leb(self.data.len() as u64, &mut d);
            for seg in &self.data {
                d.extend_from_slice(&[0, 0x41, 0, 0x0b]);
                leb(seg.len() as u64, &mut d);
                d.extend_from_slice(seg);
            }
            section(11, &d, &mut m);
        }
        if self.custom_bytes > 0 {
            let mut c = Vec::new();
            name("padding", &mut c);
            c.resize(c.len() + self.custom_bytes, 0);
            section(0, &c, &mut m);
        }
        m
    }
}

/// Deterministic pseudo-random numbers (xorshift) for generated code.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A body of about `bytes` bytes over `locals` i32 locals: arithmetic on
/// random locals, and (when `branchy`) every few statements an `if` on a
/// local and a `loop` with a conditional back edge, so the compiler sees
/// many blocks with many live values (its worst case per byte).
pub fn heavy_body(bytes: usize, locals: u32, branchy: bool, seed: u64) -> Body {
    let mut r = Rng(seed | 1);
    let mut code = Vec::with_capacity(bytes + 64);
    let l = u64::from(locals.max(1));
    let mut depth = 0u32;
    let mut stmt = 0u64;
    while code.len() < bytes {
        if branchy && stmt.is_multiple_of(4) {
            if depth < 16 && r.below(2) == 0 {
                // loop ... (closed later with a br_if back edge)
                code.push(0x03);
                code.push(0x40);
                depth += 1;
            } else if depth > 0 {
                code.push(0x20);
                leb(r.below(l), &mut code);
                code.extend_from_slice(&[0x0d, 0]); // br_if 0
                code.push(0x0b);
                depth -= 1;
            }
            code.push(0x20);
            leb(r.below(l), &mut code);
            code.extend_from_slice(&[0x04, 0x40]); // if
            code.push(0x20);
            leb(r.below(l), &mut code);
            code.push(0x21);
            leb(r.below(l), &mut code);
            code.push(0x0b);
        }
        for op in [0x6a, 0x6c, 0x73] {
            // local.get a; local.get b; op; local.set c
            code.push(0x20);
            leb(r.below(l), &mut code);
            code.push(0x20);
            leb(r.below(l), &mut code);
            code.push(op);
            code.push(0x21);
            leb(r.below(l), &mut code);
        }
        stmt += 1;
    }
    while depth > 0 {
        code.push(0x0b);
        depth -= 1;
    }
    Body { locals: vec![(locals, I32)], code }
}
