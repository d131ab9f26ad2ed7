//! Checks built strategy modules (`strategies/wasm/*.wasm`, produced by
//! `scripts/build-strategies.sh`) against the ABI with a tiny dependency-free
//! wasm reader: only `bulkhead` imports with exactly the ABI signatures, the
//! required exports with their signatures, `memory`, no `start` function, and a
//! small size.
//!
//! Without built modules the test is a no-op unless `BULKHEAD_REQUIRE_WASM` is
//! set (the build script sets it). `BULKHEAD_WASM_DIR` overrides the directory.

use std::path::PathBuf;

use bulkhead_abi::{EXPORT_MEMORY, EXPORTS, IMPORT_MODULE, IMPORTS, ValType};

/// Guard against regressing to MiB-sized modules (std formatting, allocator, …).
const MAX_MODULE_BYTES: usize = 256 * 1024;

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> u8 {
        let v = self.b[self.pos];
        self.pos += 1;
        v
    }
    fn leb(&mut self) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let c = self.byte();
            v |= ((c & 0x7f) as u64) << shift;
            if c & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        s
    }
    fn name(&mut self) -> String {
        let n = self.leb() as usize;
        String::from_utf8(self.bytes(n).to_vec()).expect("utf-8 name")
    }
    fn limits(&mut self) {
        let flags = self.byte();
        self.leb();
        if flags & 1 != 0 {
            self.leb();
        }
    }
}

type Sig = (Vec<ValType>, Vec<ValType>);

#[derive(Default, Debug)]
struct Module {
    types: Vec<Sig>,
    func_imports: Vec<(String, String, u32)>,
    other_imports: Vec<(String, String, u8)>,
    funcs: Vec<u32>,
    exports: Vec<(String, u8, u32)>,
    has_start: bool,
}

fn valtype(c: u8) -> ValType {
    match c {
        0x7f => ValType::I32,
        0x7e => ValType::I64,
        other => panic!("unexpected value type 0x{other:02x} in a signature"),
    }
}

fn parse(b: &[u8]) -> Module {
    assert_eq!(&b[..8], b"\0asm\x01\0\0\0", "not a core wasm module v1");
    let mut r = Reader { b, pos: 8 };
    let mut m = Module::default();
    while r.pos < b.len() {
        let id = r.byte();
        let size = r.leb() as usize;
        let end = r.pos + size;
        let mut s = Reader { b: &b[..end], pos: r.pos };
        match id {
            1 => {
                for _ in 0..s.leb() {
                    assert_eq!(s.byte(), 0x60, "function type");
                    let np = s.leb();
                    let params = (0..np).map(|_| valtype(s.byte())).collect();
                    let nr = s.leb();
                    let results = (0..nr).map(|_| valtype(s.byte())).collect();
                    m.types.push((params, results));
                }
            }
            2 => {
                for _ in 0..s.leb() {
                    let module = s.name();
                    let field = s.name();
                    match s.byte() {
                        0 => {
                            let t = s.leb() as u32;
                            m.func_imports.push((module, field, t));
                        }
                        kind => {
                            match kind {
                                1 => {
                                    s.byte();
                                    s.limits();
                                }
                                2 => s.limits(),
                                3 => {
                                    s.byte();
                                    s.byte();
                                }
                                _ => {
                                    s.byte();
                                    s.leb();
                                }
                            }
                            m.other_imports.push((module, field, kind));
                        }
                    }
                }
            }
            3 => {
                for _ in 0..s.leb() {
                    m.funcs.push(s.leb() as u32);
                }
            }
            7 => {
                for _ in 0..s.leb() {
                    let name = s.name();
                    let kind = s.byte();
                    let idx = s.leb() as u32;
                    m.exports.push((name, kind, idx));
                }
            }
            8 => m.has_start = true,
            _ => {}
        }
        r.pos = end;
    }
    m
}

fn check(path: &std::path::Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    if bytes.len() > MAX_MODULE_BYTES {
        return Err(format!("{} bytes > {MAX_MODULE_BYTES}", bytes.len()));
    }
    let m = parse(&bytes);
    if !m.other_imports.is_empty() {
        return Err(format!("non-function imports: {:?}", m.other_imports));
    }
    for (module, field, t) in &m.func_imports {
        if module != IMPORT_MODULE {
            return Err(format!("import {module}::{field} is not from `{IMPORT_MODULE}`"));
        }
        let want = IMPORTS.iter().find(|i| i.name == field).ok_or(format!("unknown import `{field}`"))?;
        let got = &m.types[*t as usize];
        if got.0 != want.params || got.1 != want.results {
            return Err(format!(
                "import `{field}` has signature {got:?}, ABI says {:?} -> {:?}",
                want.params, want.results
            ));
        }
    }
    if m.has_start {
        return Err("module has a start function".into());
    }
    if !m.exports.iter().any(|(n, k, _)| n == EXPORT_MEMORY && *k == 2) {
        return Err("no exported memory".into());
    }
    let n_imported = m.func_imports.len() as u32;
    for want in EXPORTS {
        let (_, kind, idx) =
            m.exports.iter().find(|(n, _, _)| n == want.name).ok_or(format!("missing export `{}`", want.name))?;
        if *kind != 0 || *idx < n_imported {
            return Err(format!("export `{}` is not a defined function", want.name));
        }
        let got = &m.types[m.funcs[(*idx - n_imported) as usize] as usize];
        if got.0 != want.params || got.1 != want.results {
            return Err(format!("export `{}` has signature {got:?}", want.name));
        }
    }
    Ok(())
}

#[test]
fn strategy_modules_match_the_abi() {
    let dir = std::env::var_os("BULKHEAD_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../strategies/wasm"));
    let required = std::env::var_os("BULKHEAD_REQUIRE_WASM").is_some();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "wasm")).collect()
        })
        .unwrap_or_default();
    files.sort();
    if files.is_empty() {
        assert!(!required, "no .wasm modules in {}", dir.display());
        eprintln!("no modules in {} — run scripts/build-strategies.sh; skipping", dir.display());
        return;
    }
    let mut failures = Vec::new();
    for f in &files {
        match check(f) {
            Ok(()) => eprintln!("ok   {}", f.display()),
            Err(e) => failures.push(format!("{}: {e}", f.display())),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn reader_rejects_a_foreign_import() {
    // (module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))))
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    m.extend_from_slice(&[1, 9, 1, 0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f]);
    let module = b"wasi_snapshot_preview1";
    let field = b"fd_write";
    let mut imp = vec![1, module.len() as u8];
    imp.extend_from_slice(module);
    imp.push(field.len() as u8);
    imp.extend_from_slice(field);
    imp.extend_from_slice(&[0, 0]);
    m.push(2);
    m.push(imp.len() as u8);
    m.extend_from_slice(&imp);
    let dir = std::env::temp_dir().join(format!("bh-sdk-wasm-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("bad.wasm");
    std::fs::write(&p, &m).unwrap();
    let err = check(&p).unwrap_err();
    std::fs::remove_dir_all(&dir).ok();
    assert!(err.contains("wasi_snapshot_preview1::fd_write"), "{err}");
}
