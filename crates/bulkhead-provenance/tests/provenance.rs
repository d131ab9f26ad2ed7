//! Sign / verify round trips and every refusal, through files on disk.

use bulkhead_provenance::{
    ModuleSignature, ProvenanceError, SigningKeyFile, TrustedKeys, keygen, sign_module, sign_module_file,
    signature_path, verify_module, verify_module_file,
};

const MODULE: &[u8] = b"\0asm\x01\0\0\0 pretend strategy";

fn key(name: &str, seed: u8) -> SigningKeyFile {
    SigningKeyFile::from_seed(name, &[seed; 32]).expect("key")
}

#[test]
fn keygen_sign_verify_round_trip_through_text() {
    let (sk, pk) = keygen("desk-1").expect("keygen");
    let sk2 = SigningKeyFile::parse("k", &sk.to_text()).expect("parse secret");
    assert_eq!(sk2.public_key(), pk);
    let trusted = TrustedKeys::parse("t", &format!("# ops\n\n{}", pk.to_text())).expect("trusted");
    let sig = sign_module(MODULE, &sk2);
    let sig = ModuleSignature::parse("s", &sig.to_text()).expect("parse sig");
    let who = verify_module("m.wasm", MODULE, Some(&sig), &trusted).expect("verifies");
    assert_eq!(who.name, "desk-1");
    assert_eq!(who.claimed_name, "desk-1");
    assert_eq!(who.public_key, pk.to_bytes());
    assert_eq!(who.fingerprint, pk.fingerprint());
    assert_eq!(who.module_hash, *blake3::hash(MODULE).as_bytes());
    // Two generated keys differ.
    assert_ne!(keygen("desk-1").expect("keygen").1, pk);
    // Debug never shows the secret.
    let dbg = format!("{sk:?}");
    assert!(!dbg.contains(&sk.to_text().split(' ').nth(2).expect("hex").trim().to_string()), "{dbg}");
}

#[test]
fn unsigned_is_refused() {
    let e = verify_module("m.wasm", MODULE, None, &TrustedKeys::default()).unwrap_err();
    assert!(matches!(&e, ProvenanceError::Unsigned { .. }), "{e:?}");
    assert_eq!(e.kind(), "unsigned");
    assert!(e.to_string().contains("m.wasm.sig"), "{e}");
}

#[test]
fn tampered_module_is_refused_with_both_hashes() {
    let k = key("desk-1", 1);
    let trusted = TrustedKeys::new(vec![k.public_key()]);
    let sig = sign_module(MODULE, &k);
    let mut evil = MODULE.to_vec();
    evil.push(0);
    let e = verify_module("m.wasm", &evil, Some(&sig), &trusted).unwrap_err();
    match &e {
        ProvenanceError::Tampered { module, signer, expected, found } => {
            assert_eq!(module, "m.wasm");
            assert_eq!(signer, "desk-1");
            assert_eq!(expected, &blake3::hash(MODULE).to_hex().to_string());
            assert_eq!(found, &blake3::hash(&evil).to_hex().to_string());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.kind(), "tampered");
}

#[test]
fn unknown_signer_is_refused() {
    let k = key("mallory", 2);
    let trusted = TrustedKeys::new(vec![key("desk-1", 1).public_key()]);
    let e = verify_module("m.wasm", MODULE, Some(&sign_module(MODULE, &k)), &trusted).unwrap_err();
    assert!(matches!(&e, ProvenanceError::UnknownSigner { signer, .. } if signer == "mallory"), "{e:?}");
    assert!(e.to_string().contains(&k.public_key().fingerprint()), "{e}");
}

#[test]
fn bad_signature_is_refused() {
    let k = key("desk-1", 1);
    let trusted = TrustedKeys::new(vec![k.public_key()]);
    // Flipped signature bit.
    let mut sig = sign_module(MODULE, &k);
    sig.signature[10] ^= 1;
    let e = verify_module("m.wasm", MODULE, Some(&sig), &trusted).unwrap_err();
    assert!(matches!(e, ProvenanceError::BadSignature { .. }), "{e:?}");
    // Hash and module both swapped for another module: signature no longer covers it.
    let other = b"\0asm\x01\0\0\0 evil";
    let mut sig = sign_module(MODULE, &k);
    sig.module_hash = *blake3::hash(other).as_bytes();
    let e = verify_module("m.wasm", other, Some(&sig), &trusted).unwrap_err();
    assert!(matches!(e, ProvenanceError::BadSignature { .. }), "{e:?}");
    // Signer name edited: the name is signed.
    let mut sig = sign_module(MODULE, &k);
    sig.signer = "ceo".into();
    let e = verify_module("m.wasm", MODULE, Some(&sig), &trusted).unwrap_err();
    assert!(matches!(e, ProvenanceError::BadSignature { .. }), "{e:?}");
    assert_eq!(e.kind(), "bad_signature");
}

#[test]
fn trusted_name_wins_over_claimed_name() {
    let k = key("desk-1", 1);
    let renamed = bulkhead_provenance::PublicKey::from_bytes("alice", &k.public_key().to_bytes()).expect("pk");
    let who =
        verify_module("m", MODULE, Some(&sign_module(MODULE, &k)), &TrustedKeys::new(vec![renamed])).expect("verifies");
    assert_eq!((who.name.as_str(), who.claimed_name.as_str()), ("alice", "desk-1"));
}

#[test]
fn malformed_files_name_the_line() {
    let k = key("desk-1", 1);
    let text = sign_module(MODULE, &k).to_text();
    let broken = text.replace("signature ", "signatur ");
    let e = ModuleSignature::parse("m.wasm.sig", &broken).unwrap_err();
    assert!(matches!(&e, ProvenanceError::Malformed { line: 5, .. }), "{e:?}");
    assert!(e.to_string().contains("m.wasm.sig") && e.to_string().contains("line 5"), "{e}");
    assert!(ModuleSignature::parse("s", "").is_err());
    assert!(ModuleSignature::parse("s", &text.replace("module-blake3 ", "module-blake3 zz")).is_err());
    let e = TrustedKeys::parse("keys.pub", "# c\nbulkhead-public-key-v1 x 00\n").unwrap_err();
    assert!(matches!(&e, ProvenanceError::Malformed { line: 2, .. }), "{e:?}");
    assert!(SigningKeyFile::parse("k", "bulkhead-public-key-v1 a 00").is_err());
    assert!(TrustedKeys::parse("t", "").expect("empty").is_empty());
}

#[test]
fn one_line_form_round_trips_and_names_what_is_wrong() {
    let sig = sign_module(MODULE, &key("desk-1", 1));
    let line = sig.to_line();
    assert!(!line.contains('\n'));
    // Exactly the file's lines joined by spaces (what `tr '\n' ' '` gives).
    assert_eq!(line, sig.to_text().trim_end().replace('\n', " "));
    assert_eq!(ModuleSignature::parse_line("h", &line).expect("parse"), sig);
    assert_eq!(
        ModuleSignature::parse_line("h", &format!("  {}  ", sig.to_text().replace('\n', " "))).expect("ws"),
        sig
    );
    let e = ModuleSignature::parse_line("X-Bulkhead-Signature", "bulkhead-signature-v1 module-blake3 00").unwrap_err();
    assert!(e.to_string().contains("X-Bulkhead-Signature") && e.to_string().contains("found 3"), "{e}");
    let e = ModuleSignature::parse_line("h", &line.replace("public-key", "public_key")).unwrap_err();
    assert!(matches!(&e, ProvenanceError::Malformed { line: 4, .. }), "{e:?}");
}

#[test]
fn files_on_disk_sign_verify_and_refuse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let module = dir.path().join("mm.wasm");
    std::fs::write(&module, MODULE).expect("write");
    let (sk, pk) = keygen("desk-1").expect("keygen");
    let key_path = dir.path().join("desk-1.key");
    sk.write(&key_path).expect("write key");
    assert!(sk.write(&key_path).is_err(), "never overwrites a secret key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let pub_path = dir.path().join("desk-1.pub");
    pk.write(&pub_path).expect("write pub");
    let trusted = TrustedKeys::read(&pub_path).expect("trusted");

    let e = verify_module_file(&module, &trusted).unwrap_err();
    assert!(matches!(e, ProvenanceError::Unsigned { .. }), "{e:?}");

    let sk = SigningKeyFile::read(&key_path).expect("read key");
    let sig_path = sign_module_file(&module, &sk).expect("sign");
    assert_eq!(sig_path, signature_path(&module));
    assert!(sig_path.to_string_lossy().ends_with("mm.wasm.sig"));
    let (bytes, who) = verify_module_file(&module, &trusted).expect("verifies");
    assert_eq!(bytes, MODULE);
    assert_eq!(who.name, "desk-1");

    std::fs::write(&module, b"\0asm\x01\0\0\0 swapped").expect("write");
    let e = verify_module_file(&module, &trusted).unwrap_err();
    assert!(matches!(e, ProvenanceError::Tampered { .. }), "{e:?}");
    assert!(e.to_string().contains("mm.wasm"), "{e}");
}
