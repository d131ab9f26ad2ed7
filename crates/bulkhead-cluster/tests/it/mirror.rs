//! Push a journal, lose a server, push again (resume, no duplicates), fetch it back
//! byte-identical and verified.

use crate::{append_records, cluster, config, params, segments};
use async_nats::jetstream::{self, message::PublishMessage};
use bulkhead_cluster::{connect, fetch_journal, journal_stream, journal_subject, push_journal};
use bulkhead_journal::{JournalWriter, verify};

fn stream_messages(cfg: &bulkhead_cluster::ClusterConfig) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = connect(cfg).await.unwrap();
        let js = jetstream::new(client);
        let mut s = js.get_stream(journal_stream(&cfg.node)).await.unwrap();
        s.info().await.unwrap().state.messages
    })
}

#[test]
fn push_kill_a_server_push_again_and_fetch_byte_identical() {
    let Some(mut c) = cluster() else { return };
    let cfg = config(&c, "n1");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src.journal");

    // A journal that is still open (unsealed tail) is pushed as far as it goes.
    let mut w = JournalWriter::create(&src, params()).unwrap();
    append_records(&mut w, 0, 3000);
    w.finish().unwrap();
    let first = push_journal(&cfg, &src).unwrap();
    assert_eq!((first.records, first.sent, first.skipped, first.duplicates), (3000, 3000, 0, 0));
    assert!(first.batches > 10, "{first:?}");
    assert_eq!(stream_messages(&cfg), first.batches);

    // One of three servers dies; the journal grows; the push resumes where the stream ends.
    c.kill(1);
    let (mut w, _) = JournalWriter::open_append(&src, params()).unwrap();
    append_records(&mut w, 3000, 2000);
    w.finish().unwrap();
    let second = push_journal(&cfg, &src).unwrap();
    assert_eq!((second.records, second.skipped, second.sent, second.duplicates), (5000, 3000, 2000, 0));
    // Again: nothing to send, nothing duplicated.
    let third = push_journal(&cfg, &src).unwrap();
    assert_eq!((third.sent, third.batches, third.skipped), (0, 0, 5000));
    assert_eq!(stream_messages(&cfg), first.batches + second.batches);

    let out = tmp.path().join("fetched.journal");
    let got = fetch_journal(&cfg, "n1", &out).unwrap();
    assert!(got.seal_checked);
    let want = verify(&src).unwrap();
    let have = verify(&out).unwrap();
    assert_eq!((have.records, have.last_hash, have.segments), (5000, want.last_hash, want.segments));
    assert!(want.segments > 5, "several segments: {want:?}");
    assert_eq!(segments(&out), segments(&src), "fetched segments byte-identical");
    c.restart(1).unwrap();
}

/// A batch re-published after a crash (same `Nats-Msg-Id`) is stored once.
#[test]
fn a_republished_batch_is_deduplicated_by_message_id() {
    let Some(c) = cluster() else { return };
    let cfg = config(&c, "n2");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src.journal");
    let mut w = JournalWriter::create(&src, params()).unwrap();
    append_records(&mut w, 0, 200);
    w.finish().unwrap();
    let pushed = push_journal(&cfg, &src).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dup = rt.block_on(async {
        let client = connect(&cfg).await.unwrap();
        let js = jetstream::new(client);
        let s = js.get_stream(journal_stream("n2")).await.unwrap();
        let first = s.get_raw_message(1).await.unwrap();
        let publish = PublishMessage::build().payload(first.payload.clone()).message_id("n2/0");
        js.send_publish(journal_subject("n2"), publish).await.unwrap().await.unwrap()
    });
    assert!(dup.duplicate, "{dup:?}");
    assert_eq!(dup.sequence, 1);
    assert_eq!(stream_messages(&cfg), pushed.batches);
    let out = tmp.path().join("fetched");
    assert_eq!(fetch_journal(&cfg, "n2", &out).unwrap().records, 200);
    assert_eq!(segments(&out), segments(&src));
}
