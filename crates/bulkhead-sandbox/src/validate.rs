//! Pre-compile validation: bound what a module can make the compiler do.
//!
//! Before wasmtime (cranelift) sees a module, one linear pass with
//! `wasmparser` — the version wasmtime itself uses, so it costs no build
//! time — reads the section headers, the type / import / table / memory /
//! element / data / custom sections and each function body's *locals
//! declarations* (not its instructions), and compares every count and size
//! with [`ModuleLimits`]. The first item over its limit refuses the module
//! with a [`LoadError::OverLimit`] that names the module, the item and the
//! limit's field. Instruction-level validation is wasmtime's (it validates
//! every body before compiling it).
//!
//! Compile time and memory grow with the code the compiler sees: the number
//! of functions, the bytes of each body and its locals. Bounding those
//! (plus the module size, which bounds everything else) bounds the compile;
//! the defaults are measured in BENCHMARKS.md ("Compile bounds").

use crate::LoadError;
use wasmparser::{ElementItems, Encoding, Parser, Payload, TypeRef};

/// Static limits on a module, checked before it is compiled. Defaults are
/// about 10x what the demo strategies use (23 KiB, 63 functions, largest
/// body 1.3 KiB, 17 locals) and tight enough that the worst module we could
/// generate under all of them (256 KiB of loop/branch code over 1 000 live
/// locals in 16 KiB bodies) compiles in 2.3 s at 41 MB peak RSS on the
/// 2-core dev machine (BENCHMARKS.md "Compile bounds"). Compile cost is
/// superlinear in body size and locals: raise those two with care.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ModuleLimits {
    /// Module size, bytes.
    pub max_module_bytes: u64,
    /// Functions, imported and defined.
    pub max_functions: u64,
    /// Bytes of one function body (locals declarations and code).
    pub max_function_body_bytes: u64,
    /// Locals of one function (the sum of its declarations, parameters not
    /// included).
    pub max_locals_per_function: u64,
    /// Globals, imported and defined.
    pub max_globals: u64,
    /// Types (every type of every recursion group).
    pub max_types: u64,
    /// Import entries.
    pub max_imports: u64,
    /// Export entries.
    pub max_exports: u64,
    /// Data segments.
    pub max_data_segments: u64,
    /// Bytes of all data segments together.
    pub max_data_bytes: u64,
    /// Element segments.
    pub max_element_segments: u64,
    /// Elements of all element segments together.
    pub max_element_items: u64,
    /// Tables, imported and defined.
    pub max_tables: u64,
    /// Initial (and declared maximum, if any, is not checked: growth is the
    /// strategy limits' business) size of one table, elements.
    pub max_table_elements: u64,
    /// Linear memories, imported and defined.
    pub max_memories: u64,
    /// Initial size of one linear memory, 64 KiB pages (65 536 = 4 GiB, the
    /// whole 32-bit space; the strategy's `memory_bytes` is checked against
    /// it again before instantiation).
    pub max_memory_pages: u64,
    /// Tags (exception handling), imported and defined.
    pub max_tags: u64,
    /// Bytes of all custom sections together (names, producers, DWARF).
    pub max_custom_section_bytes: u64,
    /// Wall-clock budget for one compilation, ms. A compile over budget is
    /// refused (its worker's result is discarded).
    pub compile_timeout_ms: u64,
}

impl Default for ModuleLimits {
    fn default() -> Self {
        ModuleLimits {
            max_module_bytes: 256 << 10,
            max_functions: 10_000,
            max_function_body_bytes: 16 << 10,
            max_locals_per_function: 1_000,
            max_globals: 10_000,
            max_types: 10_000,
            max_imports: 1_000,
            max_exports: 10_000,
            max_data_segments: 10_000,
            max_data_bytes: 256 << 10,
            max_element_segments: 1_000,
            max_element_items: 100_000,
            max_tables: 1,
            max_table_elements: 100_000,
            max_memories: 1,
            max_memory_pages: 65_536,
            max_tags: 1_000,
            max_custom_section_bytes: 256 << 10,
            compile_timeout_ms: 10_000,
        }
    }
}

/// What the validation pass counted (for tests and diagnostics).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleCounts {
    pub functions: u64,
    pub max_body_bytes: u64,
    pub max_locals: u64,
    pub globals: u64,
    pub types: u64,
    pub imports: u64,
    pub exports: u64,
    pub data_segments: u64,
    pub data_bytes: u64,
    pub element_segments: u64,
    pub element_items: u64,
    pub tables: u64,
    pub memories: u64,
    pub tags: u64,
    pub custom_section_bytes: u64,
}

struct Check<'a> {
    name: &'a str,
    limits: &'a ModuleLimits,
}

impl Check<'_> {
    fn over(&self, found: u64, item: impl Into<String>, limit: u64, field: &'static str) -> LoadError {
        LoadError::OverLimit { name: self.name.to_string(), item: item.into(), found, limit, field }
    }

    /// `found` must be ≤ `limit`.
    fn le(&self, found: u64, item: &str, limit: u64, field: &'static str) -> Result<(), LoadError> {
        if found > limit { Err(self.over(found, item, limit, field)) } else { Ok(()) }
    }

    fn malformed(&self, e: wasmparser::BinaryReaderError) -> LoadError {
        LoadError::Malformed {
            name: self.name.to_string(),
            offset: e.offset() as u64,
            message: e.message().to_string(),
        }
    }
}

/// Count and check `bytes` against `limits`. Linear in the module size;
/// allocates nothing proportional to the module.
#[expect(clippy::too_many_lines, reason = "over the ceiling when it was set (issue 14): split when next changed")]
pub(crate) fn check_module(name: &str, bytes: &[u8], limits: &ModuleLimits) -> Result<ModuleCounts, LoadError> {
    let c = Check { name, limits };
    let l = limits;
    c.le(bytes.len() as u64, "bytes", l.max_module_bytes, "max_module_bytes")?;
    let mut n = ModuleCounts::default();
    let mut fn_index: u64 = 0;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| c.malformed(e))?;
        match payload {
            Payload::Version { encoding: Encoding::Module, .. } => {}
            Payload::Version { encoding: Encoding::Component, .. } => {
                return Err(LoadError::NotWasm {
                    name: name.to_string(),
                    message: "a component, not a core module".to_string(),
                });
            }
            Payload::TypeSection(r) => {
                for group in r {
                    let group = group.map_err(|e| c.malformed(e))?;
                    n.types += group.types().len() as u64;
                    c.le(n.types, "types", l.max_types, "max_types")?;
                }
            }
            Payload::ImportSection(r) => {
                for imp in r.into_imports() {
                    let imp = imp.map_err(|e| c.malformed(e))?;
                    n.imports += 1;
                    c.le(n.imports, "imports", l.max_imports, "max_imports")?;
                    match imp.ty {
                        TypeRef::Func(_) | TypeRef::FuncExact(_) => {
                            n.functions += 1;
                            fn_index += 1;
                            c.le(n.functions, "functions", l.max_functions, "max_functions")?;
                        }
                        TypeRef::Table(t) => table(&c, &mut n, t.initial)?,
                        TypeRef::Memory(m) => memory(&c, &mut n, m.initial)?,
                        TypeRef::Global(_) => {
                            n.globals += 1;
                            c.le(n.globals, "globals", l.max_globals, "max_globals")?;
                        }
                        TypeRef::Tag(_) => {
                            n.tags += 1;
                            c.le(n.tags, "tags", l.max_tags, "max_tags")?;
                        }
                    }
                }
            }
            Payload::FunctionSection(r) => {
                n.functions += u64::from(r.count());
                c.le(n.functions, "functions", l.max_functions, "max_functions")?;
            }
            Payload::TableSection(r) => {
                for t in r {
                    let t = t.map_err(|e| c.malformed(e))?;
                    table(&c, &mut n, t.ty.initial)?;
                }
            }
            Payload::MemorySection(r) => {
                for m in r {
                    let m = m.map_err(|e| c.malformed(e))?;
                    memory(&c, &mut n, m.initial)?;
                }
            }
            Payload::TagSection(r) => {
                n.tags += u64::from(r.count());
                c.le(n.tags, "tags", l.max_tags, "max_tags")?;
            }
            Payload::GlobalSection(r) => {
                n.globals += u64::from(r.count());
                c.le(n.globals, "globals", l.max_globals, "max_globals")?;
            }
            Payload::ExportSection(r) => {
                n.exports += u64::from(r.count());
                c.le(n.exports, "exports", l.max_exports, "max_exports")?;
            }
            Payload::ElementSection(r) => {
                n.element_segments += u64::from(r.count());
                c.le(n.element_segments, "element segments", l.max_element_segments, "max_element_segments")?;
                for e in r {
                    let e = e.map_err(|e| c.malformed(e))?;
                    let items = match e.items {
                        ElementItems::Functions(r) => r.count(),
                        ElementItems::Expressions(_, r) => r.count(),
                    };
                    n.element_items += u64::from(items);
                    c.le(n.element_items, "elements in element segments", l.max_element_items, "max_element_items")?;
                }
            }
            Payload::DataCountSection { count, .. } => {
                c.le(u64::from(count), "data segments", l.max_data_segments, "max_data_segments")?;
            }
            Payload::DataSection(r) => {
                n.data_segments += u64::from(r.count());
                c.le(n.data_segments, "data segments", l.max_data_segments, "max_data_segments")?;
                for d in r {
                    let d = d.map_err(|e| c.malformed(e))?;
                    n.data_bytes += d.data.len() as u64;
                    c.le(n.data_bytes, "bytes of data segments", l.max_data_bytes, "max_data_bytes")?;
                }
            }
            Payload::CodeSectionStart { count, .. } => {
                // The function section must declare them too (wasmtime
                // checks the two agree); refuse a code section that alone
                // is over the limit before reading its bodies.
                c.le(u64::from(count), "function bodies", l.max_functions, "max_functions")?;
            }
            Payload::CodeSectionEntry(body) => {
                let idx = fn_index;
                fn_index += 1;
                let size = body.range().len() as u64;
                n.max_body_bytes = n.max_body_bytes.max(size);
                if size > l.max_function_body_bytes {
                    return Err(c.over(
                        size,
                        format!("bytes in the body of function {idx}"),
                        l.max_function_body_bytes,
                        "max_function_body_bytes",
                    ));
                }
                let mut locals: u64 = 0;
                let mut reader = body.get_locals_reader().map_err(|e| c.malformed(e))?;
                for _ in 0..reader.get_count() {
                    // Each declaration is (count: u32, type); a single one
                    // may claim 4 billion locals: sum in u64, refuse at once.
                    let (count, _ty) = reader.read().map_err(|e| c.malformed(e))?;
                    locals += u64::from(count);
                    if locals > l.max_locals_per_function {
                        return Err(c.over(
                            locals,
                            format!("locals in function {idx}"),
                            l.max_locals_per_function,
                            "max_locals_per_function",
                        ));
                    }
                }
                n.max_locals = n.max_locals.max(locals);
            }
            Payload::CustomSection(r) => {
                n.custom_section_bytes += r.range().len() as u64;
                c.le(
                    n.custom_section_bytes,
                    "bytes of custom sections",
                    l.max_custom_section_bytes,
                    "max_custom_section_bytes",
                )?;
            }
            Payload::StartSection { .. } | Payload::End(_) => {}
            // Unknown section ids and anything of the component model are
            // not part of a core module this host runs.
            other => {
                let what = match other {
                    Payload::UnknownSection { id, .. } => format!("unknown section id {id}"),
                    _ => "a component-model section".to_string(),
                };
                return Err(LoadError::Malformed {
                    name: name.to_string(),
                    offset: other.as_section().map_or(0, |(_, r)| r.start as u64),
                    message: format!("{what} is not allowed in a strategy module"),
                });
            }
        }
    }
    Ok(n)
}

fn table(c: &Check<'_>, n: &mut ModuleCounts, initial: u64) -> Result<(), LoadError> {
    n.tables += 1;
    c.le(n.tables, "tables", c.limits.max_tables, "max_tables")?;
    c.le(initial, "initial elements of a table", c.limits.max_table_elements, "max_table_elements")
}

fn memory(c: &Check<'_>, n: &mut ModuleCounts, initial: u64) -> Result<(), LoadError> {
    n.memories += 1;
    c.le(n.memories, "memories", c.limits.max_memories, "max_memories")?;
    c.le(initial, "initial pages of a memory", c.limits.max_memory_pages, "max_memory_pages")
}
