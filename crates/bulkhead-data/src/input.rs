//! Byte-level line input: plain or gzip (by `.gz` extension or magic bytes),
//! read in large blocks into one reused buffer — no allocation per line.

use crate::DataError;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

const BLOCK: usize = 256 * 1024;
/// Longest accepted line (a sanity bound; real lines are < 2 KB).
const MAX_LINE: usize = 16 << 20;

/// Open `path`, transparently decompressing gzip.
pub(crate) fn open_input(path: &Path) -> Result<Box<dyn Read + Send>, DataError> {
    let file = File::open(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
    let gz_ext = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    wrap_input(file, gz_ext).map_err(|source| DataError::Io { path: path.to_path_buf(), source })
}

/// Wrap a byte stream, decompressing it if it is gzip (`force_gz`, or the
/// stream starts with the gzip magic bytes `1f 8b`).
pub(crate) fn wrap_input<R: Read + Send + 'static>(r: R, force_gz: bool) -> std::io::Result<Box<dyn Read + Send>> {
    let mut br = BufReader::with_capacity(64 * 1024, r);
    let head = loop {
        match br.fill_buf() {
            Ok(b) => break b,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    let magic = head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    if force_gz || magic { Ok(Box::new(flate2::bufread::MultiGzDecoder::new(br))) } else { Ok(Box::new(br)) }
}

pub(crate) struct LineReader {
    pub(crate) path: PathBuf,
    src: Box<dyn Read + Send>,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    /// 1-based number of the line last returned.
    pub(crate) line: u64,
}

impl LineReader {
    pub(crate) fn new(path: PathBuf, src: Box<dyn Read + Send>) -> LineReader {
        LineReader { path, src, buf: vec![0; BLOCK], pos: 0, end: 0, eof: false, line: 0 }
    }

    /// Next line without its `\n` / `\r\n`, `None` at the end.
    #[inline]
    pub(crate) fn next_line(&mut self) -> Result<Option<&[u8]>, DataError> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.pos..self.end]) {
                let start = self.pos;
                self.pos += i + 1;
                self.line += 1;
                let mut l = &self.buf[start..start + i];
                if let [rest @ .., b'\r'] = l {
                    l = rest;
                }
                return Ok(Some(l));
            }
            if self.eof {
                if self.pos < self.end {
                    let start = self.pos;
                    self.pos = self.end;
                    self.line += 1;
                    let mut l = &self.buf[start..self.end];
                    if let [rest @ .., b'\r'] = l {
                        l = rest;
                    }
                    return Ok(Some(l));
                }
                return Ok(None);
            }
            self.refill()?;
        }
    }

    #[cold]
    fn refill(&mut self) -> Result<(), DataError> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= MAX_LINE {
                return Err(DataError::Line {
                    path: self.path.clone(),
                    line: self.line + 1,
                    field: "line",
                    problem: format!("longer than {MAX_LINE} bytes"),
                });
            }
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(source) => return Err(DataError::Io { path: self.path.clone(), source }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(data: &'static [u8]) -> Vec<Vec<u8>> {
        let mut r = LineReader::new("mem".into(), Box::new(data));
        r.buf = vec![0; 4]; // force refills and growth
        let mut v = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            v.push(l.to_vec());
        }
        v
    }

    #[test]
    fn splits_lines_across_refills() {
        assert_eq!(lines(b"abc\r\ndefghij\n\nk"), vec![b"abc".to_vec(), b"defghij".to_vec(), vec![], b"k".to_vec()]);
        assert_eq!(lines(b""), Vec::<Vec<u8>>::new());
        assert_eq!(lines(b"x\n"), vec![b"x".to_vec()]);
    }
}
