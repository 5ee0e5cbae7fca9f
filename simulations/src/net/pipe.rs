//! One direction of a simulated connection: a byte pipe that delays what is written.
//!
//! A write of `n` bytes becomes a segment. The segment waits for the link to be free
//! (bandwidth: `n / bytes_per_s` after the previous segment finished), then travels for the
//! link's latency plus a uniformly drawn jitter; with probability `loss` it is "lost" and
//! retransmitted, which on a reliable stream means it arrives one retransmission timeout
//! later. Segments are delivered in order (a segment is never due before the one ahead of
//! it), as on TCP. At most [`WINDOW`] bytes are in flight; a writer past that waits, which
//! is the receive window that throttles a sender on a slow link.
//!
//! A pipe is broken by a partition (both ends fail with `ConnectionReset`), ends cleanly
//! when the writer closes or drops, and fails the writer when the reader drops.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::io::{AsyncRead, AsyncWrite};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::{Instant, Sleep};

use super::Link;

/// Bytes in flight per direction before the writer waits (like a TCP receive window).
pub const WINDOW: usize = 256 * 1024;
/// Largest segment one write produces.
pub const MAX_SEGMENT: usize = 64 * 1024;
/// Shortest retransmission timeout (Linux's `TCP_RTO_MIN`).
pub const MIN_RTO: Duration = Duration::from_millis(200);

struct Segment {
    due: Instant,
    data: Vec<u8>,
    read: usize,
}

struct State {
    queue: VecDeque<Segment>,
    in_flight: usize,
    writer_closed: bool,
    reader_closed: bool,
    broken: bool,
    reader_waker: Option<Waker>,
    writer_waker: Option<Waker>,
    /// When the link has finished sending the last segment (bandwidth).
    link_free_at: Instant,
    /// When the last segment is due (keeps delivery in order).
    last_due: Instant,
    rng: ChaCha8Rng,
}

/// The state both ends of a pipe share.
pub struct Shared {
    state: Mutex<State>,
    link: Link,
    /// The network's byte counter.
    bytes: Arc<AtomicU64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Breaks the pipe (partition): both ends fail from now on.
    pub fn break_pipe(&self) {
        let mut st = self.lock();
        st.broken = true;
        st.queue.clear();
        wake(&mut st.reader_waker);
        wake(&mut st.writer_waker);
    }

    /// Delivery time of a segment of `n` bytes written now.
    fn schedule(&self, st: &mut State, n: usize) -> Instant {
        let now = Instant::now();
        let start = st.link_free_at.max(now);
        let tx = match self.link.bandwidth_bytes_per_s {
            Some(bw) if bw > 0 => Duration::from_secs_f64(n as f64 / bw as f64),
            _ => Duration::ZERO,
        };
        st.link_free_at = start + tx;
        let jitter_ms = self.link.jitter.as_secs_f64() * 1000.0;
        let offset_ms = if jitter_ms > 0.0 {
            st.rng.random_range(-jitter_ms..=jitter_ms)
        } else {
            0.0
        };
        let latency_ms = (self.link.latency.as_secs_f64() * 1000.0 + offset_ms).max(0.0);
        let mut due = st.link_free_at + Duration::from_secs_f64(latency_ms / 1000.0);
        if self.link.loss > 0.0 && st.rng.random_bool(self.link.loss.min(1.0)) {
            due += MIN_RTO + 2 * self.link.latency;
        }
        let due = due.max(st.last_due);
        st.last_due = due;
        due
    }
}

fn wake(w: &mut Option<Waker>) {
    if let Some(w) = w.take() {
        w.wake();
    }
}

/// Creates a pipe over `link`, counting written bytes in `bytes`.
pub fn pipe(link: Link, seed: u64, bytes: Arc<AtomicU64>) -> (Writer, Reader) {
    let now = Instant::now();
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            in_flight: 0,
            writer_closed: false,
            reader_closed: false,
            broken: false,
            reader_waker: None,
            writer_waker: None,
            link_free_at: now,
            last_due: now,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }),
        link,
        bytes,
    });
    (
        Writer {
            shared: shared.clone(),
        },
        Reader {
            shared,
            sleep: None,
        },
    )
}

/// The writing end.
pub struct Writer {
    shared: Arc<Shared>,
}

impl Writer {
    /// The shared state (the network keeps it to break the pipe on a partition).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl AsyncWrite for Writer {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let shared = &self.shared;
        let mut st = shared.lock();
        if st.broken {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        if st.reader_closed || st.writer_closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if st.in_flight >= WINDOW {
            st.writer_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.len().min(WINDOW - st.in_flight).min(MAX_SEGMENT);
        let due = shared.schedule(&mut st, n);
        st.queue.push_back(Segment {
            due,
            data: buf[..n].to_vec(),
            read: 0,
        });
        st.in_flight += n;
        shared.bytes.fetch_add(n as u64, Ordering::Relaxed);
        wake(&mut st.reader_waker);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.shared.lock();
        st.writer_closed = true;
        wake(&mut st.reader_waker);
        Poll::Ready(Ok(()))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.writer_closed = true;
        wake(&mut st.reader_waker);
    }
}

/// The reading end.
pub struct Reader {
    shared: Arc<Shared>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Reader {
    /// Copies due bytes into `buf`; `None` if the head segment is not due yet.
    fn take_due(st: &mut State, buf: &mut [u8], now: Instant) -> usize {
        let mut n = 0;
        while n < buf.len() {
            let Some(seg) = st.queue.front_mut() else {
                break;
            };
            if seg.due > now {
                break;
            }
            let k = (seg.data.len() - seg.read).min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&seg.data[seg.read..seg.read + k]);
            seg.read += k;
            n += k;
            if seg.read == seg.data.len() {
                st.queue.pop_front();
            }
        }
        st.in_flight -= n;
        n
    }
}

impl AsyncRead for Reader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let due = {
                let shared = self.shared.clone();
                let mut st = shared.lock();
                if st.broken {
                    return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
                }
                let Some(head) = st.queue.front() else {
                    if st.writer_closed {
                        return Poll::Ready(Ok(0));
                    }
                    st.reader_waker = Some(cx.waker().clone());
                    return Poll::Pending;
                };
                let due = head.due;
                let now = Instant::now();
                if due <= now {
                    let n = Self::take_due(&mut st, buf, now);
                    wake(&mut st.writer_waker);
                    return Poll::Ready(Ok(n));
                }
                // Woken early if the pipe breaks or closes.
                st.reader_waker = Some(cx.waker().clone());
                due
            };
            match &mut self.sleep {
                Some(s) => s.as_mut().reset(due),
                None => self.sleep = Some(Box::pin(tokio::time::sleep_until(due))),
            }
            let Some(sleep) = self.sleep.as_mut() else {
                continue;
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.reader_closed = true;
        st.queue.clear();
        st.in_flight = 0;
        wake(&mut st.writer_waker);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{AsyncReadExt, AsyncWriteExt};

    fn link(latency_ms: u64) -> Link {
        Link {
            latency: Duration::from_millis(latency_ms),
            ..Link::default()
        }
    }

    #[tokio::test]
    async fn delivers_in_order_after_latency() {
        let bytes = Arc::new(AtomicU64::new(0));
        let (mut w, mut r) = pipe(
            Link {
                jitter: Duration::from_millis(20),
                ..link(30)
            },
            7,
            bytes.clone(),
        );
        let start = Instant::now();
        for i in 0..50u8 {
            w.write_all(&[i; 100]).await.unwrap();
        }
        drop(w);
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        let took = start.elapsed();
        assert_eq!(out.len(), 5000);
        for (i, chunk) in out.chunks(100).enumerate() {
            assert!(
                chunk.iter().all(|b| *b as usize == i),
                "segment {i} out of order"
            );
        }
        assert!(
            took >= Duration::from_millis(10),
            "arrived too early: {took:?}"
        );
        assert_eq!(bytes.load(Ordering::Relaxed), 5000);
    }

    #[tokio::test]
    async fn bandwidth_cap_slows_a_bulk_transfer() {
        let bytes = Arc::new(AtomicU64::new(0));
        let (mut w, mut r) = pipe(
            Link {
                bandwidth_bytes_per_s: Some(1_000_000),
                ..Link::default()
            },
            1,
            bytes,
        );
        let start = Instant::now();
        let writer = tokio::spawn(async move {
            w.write_all(&vec![1u8; 300_000]).await.unwrap();
        });
        let mut out = vec![0u8; 300_000];
        r.read_exact(&mut out).await.unwrap();
        writer.await.unwrap();
        // 300 kB at 1 MB/s: about 300 ms.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(280), "too fast: {took:?}");
        assert!(took < Duration::from_secs(3), "too slow: {took:?}");
    }

    #[tokio::test]
    async fn broken_pipe_fails_both_ends() {
        let bytes = Arc::new(AtomicU64::new(0));
        let (mut w, mut r) = pipe(link(1000), 1, bytes);
        w.write_all(b"hello").await.unwrap();
        let shared = w.shared().clone();
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 5];
            r.read(&mut buf).await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        shared.break_pipe();
        let res = reader.await.unwrap();
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(
            w.write_all(b"x").await.unwrap_err().kind(),
            io::ErrorKind::ConnectionReset
        );
    }
}
