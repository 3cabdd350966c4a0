//! Bounded capture of a target's output: keeps the head and the tail, drops the middle.
//!
//! Output is streamed through [`OutputCapture`] so a job printing gigabytes costs the agent
//! `cap` bytes of memory, not gigabytes. The beginning (what the job set out to do) and the end
//! (how it finished, usually the error) are the useful parts, so those are what survive.

use std::collections::VecDeque;

/// Collects up to `cap` bytes: the first half verbatim, then a ring buffer of the last half.
#[derive(Debug)]
pub struct OutputCapture {
    head: Vec<u8>,
    head_cap: usize,
    tail: VecDeque<u8>,
    tail_cap: usize,
    total: u64,
}

impl OutputCapture {
    pub fn new(cap: usize) -> Self {
        let head_cap = cap / 2;
        Self {
            head: Vec::new(),
            head_cap,
            tail: VecDeque::new(),
            tail_cap: cap - head_cap,
            total: 0,
        }
    }

    pub fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let to_head = (self.head_cap - self.head.len()).min(bytes.len());
        self.head.extend_from_slice(&bytes[..to_head]);
        bytes = &bytes[to_head..];
        if bytes.is_empty() || self.tail_cap == 0 {
            return;
        }
        // Only the last `tail_cap` bytes of this chunk can survive; skip the rest up front.
        if bytes.len() >= self.tail_cap {
            self.tail.clear();
            bytes = &bytes[bytes.len() - self.tail_cap..];
        } else {
            let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.tail_cap);
            self.tail.drain(..overflow);
        }
        self.tail.extend(bytes);
    }

    /// Bytes seen so far, kept or not.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The captured text (invalid UTF-8 replaced) and whether anything was dropped.
    pub fn finish(self) -> (String, bool) {
        let kept = (self.head.len() + self.tail.len()) as u64;
        let dropped = self.total - kept;
        let tail: Vec<u8> = self.tail.into();
        if dropped == 0 {
            let mut all = self.head;
            all.extend_from_slice(&tail);
            return (String::from_utf8_lossy(&all).into_owned(), false);
        }
        // The cut can fall inside a multi-byte character; trimming the partial sequences on
        // both sides of the marker avoids two stray replacement characters around it.
        let head = trim_partial_end(&self.head);
        let tail = trim_partial_start(&tail);
        let mut text = String::from_utf8_lossy(head).into_owned();
        text.push_str(&format!("\n… [truncated {dropped} bytes] …\n"));
        text.push_str(&String::from_utf8_lossy(tail));
        (text, true)
    }
}

/// Captures a complete byte string (e.g. a gRPC response field) under `cap`.
pub fn capture_bytes(bytes: &[u8], cap: usize) -> (String, bool) {
    let mut capture = OutputCapture::new(cap);
    capture.push(bytes);
    capture.finish()
}

/// Drops an incomplete UTF-8 sequence at the end (at most 3 bytes).
fn trim_partial_end(bytes: &[u8]) -> &[u8] {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() => &bytes[..e.valid_up_to()],
        _ => bytes,
    }
}

/// Drops continuation bytes at the start (at most 3), left over from a character cut in two.
fn trim_partial_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes
        .iter()
        .take(3)
        .take_while(|b| (**b & 0b1100_0000) == 0b1000_0000)
        .count();
    &bytes[skip..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_output_is_kept_whole() {
        let (text, truncated) = capture_bytes(b"hello world", 64);
        assert_eq!(text, "hello world");
        assert!(!truncated);
    }

    #[test]
    fn exactly_cap_is_not_truncated() {
        let data = [b'x'; 64];
        let mut c = OutputCapture::new(64);
        for chunk in data.chunks(7) {
            c.push(chunk);
        }
        let (text, truncated) = c.finish();
        assert_eq!(text.len(), 64);
        assert!(!truncated);
    }

    #[test]
    fn keeps_head_and_tail_across_chunks() {
        let data: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut c = OutputCapture::new(100);
        for chunk in data.chunks(13) {
            c.push(chunk);
        }
        assert_eq!(c.total(), 1000);
        let (text, truncated) = c.finish();
        assert!(truncated);
        let expected_head = std::str::from_utf8(&data[..50]).unwrap();
        let expected_tail = std::str::from_utf8(&data[950..]).unwrap();
        assert_eq!(
            text,
            format!("{expected_head}\n… [truncated 900 bytes] …\n{expected_tail}")
        );
    }

    #[test]
    fn one_huge_chunk_keeps_its_own_tail() {
        let mut data = vec![b'h'; 10];
        data.extend(vec![b'm'; 10_000]);
        data.extend(vec![b't'; 10]);
        let (text, truncated) = capture_bytes(&data, 20);
        assert!(truncated);
        assert_eq!(text, "hhhhhhhhhh\n… [truncated 10000 bytes] …\ntttttttttt");
    }

    #[test]
    fn cut_characters_do_not_leave_replacement_marks() {
        // "é" is two bytes; a cap of 6 (3 + 3) cuts one in the head and one in the tail.
        let text = "ééééééééé";
        let (out, truncated) = capture_bytes(text.as_bytes(), 6);
        assert!(truncated);
        assert!(!out.contains('\u{FFFD}'), "{out:?}");
        assert!(out.starts_with('é') && out.ends_with('é'), "{out:?}");
    }
}
