//! Encryption of backup parts at rest: AES-256-GCM in the STREAM
//! construction (`aead::stream`, 32-bit big-endian counter and a last-chunk
//! flag in the nonce), over 64 KiB chunks, each chunk's associated data the
//! part's path. So a chunk cannot be changed, dropped, reordered, moved to
//! another part, or the part cut short without decryption failing. A part
//! is its 7-byte random nonce prefix, then the sealed chunks.
//!
//! The key is `[backups] key` (64 hex digits); the manifest names its id
//! (from its SHA-256), never the key.

use aes_gcm::aead::stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::aead::{KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key};
use sha2::Digest;

use super::ArchiveError;

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const PREFIX: usize = 7;

/// What the manifest says of it.
pub const ALGORITHM: &str =
    "AES-256-GCM, STREAM (BE32) over 64 KiB chunks, the part's path as associated data";

/// A backup key.
#[derive(Clone)]
pub struct Cipher {
    key: Key<Aes256Gcm>,
    id: String,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cipher({})", self.id)
    }
}

impl Cipher {
    /// A key from 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(
                "the key is 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`".into(),
            );
        }
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
        }
        let digest = sha2::Sha256::digest([b"fsa backup key id\0".as_slice(), &bytes].concat());
        let id = fsa_store::objects::put::hex(&digest[..8]);
        Ok(Cipher {
            key: Key::<Aes256Gcm>::from(bytes),
            id,
        })
    }

    /// The key's id, as manifests name it.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn sealer(&self, path: &str) -> Sealer {
        let mut prefix = [0u8; PREFIX];
        rand_bytes(&mut prefix);
        Sealer {
            enc: Some(EncryptorBE32::from_aead(
                Aes256Gcm::new(&self.key),
                prefix.as_slice().into(),
            )),
            aad: path.as_bytes().to_vec(),
            pending: Vec::with_capacity(CHUNK),
            header: Some(prefix),
        }
    }

    pub fn opener(&self, path: &str) -> Opener {
        Opener {
            key: self.key,
            dec: None,
            aad: path.as_bytes().to_vec(),
            pending: Vec::new(),
            path: path.to_owned(),
        }
    }
}

fn rand_bytes(out: &mut [u8]) {
    use rand::RngCore;
    rand::rng().fill_bytes(out);
}

/// Seals a part as its bytes pass.
pub struct Sealer {
    enc: Option<EncryptorBE32<Aes256Gcm>>,
    aad: Vec<u8>,
    pending: Vec<u8>,
    header: Option<[u8; PREFIX]>,
}

impl Sealer {
    /// Takes plaintext; returns the sealed bytes ready so far.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<u8>, ArchiveError> {
        let mut out = Vec::new();
        if let Some(h) = self.header.take() {
            out.extend_from_slice(&h);
        }
        self.pending.extend_from_slice(data);
        // A full chunk is sealed only once more follows: the last one is
        // sealed as the last.
        while self.pending.len() > CHUNK {
            let rest = self.pending.split_off(CHUNK);
            let chunk = std::mem::replace(&mut self.pending, rest);
            let enc = self.enc.as_mut().ok_or_else(sealed)?;
            out.extend(
                enc.encrypt_next(Payload {
                    msg: &chunk,
                    aad: &self.aad,
                })
                .map_err(|_| sealed())?,
            );
        }
        Ok(out)
    }

    /// Seals the last chunk; returns the bytes that end the part.
    pub fn finish(mut self) -> Result<Vec<u8>, ArchiveError> {
        let mut out = Vec::new();
        if let Some(h) = self.header.take() {
            out.extend_from_slice(&h);
        }
        let enc = self.enc.take().ok_or_else(sealed)?;
        out.extend(
            enc.encrypt_last(Payload {
                msg: &self.pending,
                aad: &self.aad,
            })
            .map_err(|_| sealed())?,
        );
        Ok(out)
    }
}

fn sealed() -> ArchiveError {
    ArchiveError::Format("encrypting a part failed".into())
}

/// Opens a sealed part as its bytes pass.
pub struct Opener {
    key: Key<Aes256Gcm>,
    dec: Option<DecryptorBE32<Aes256Gcm>>,
    aad: Vec<u8>,
    pending: Vec<u8>,
    path: String,
}

impl Opener {
    /// Takes sealed bytes; returns the plaintext of every chunk known not
    /// to be the last.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<u8>, ArchiveError> {
        self.pending.extend_from_slice(data);
        if self.dec.is_none() {
            if self.pending.len() < PREFIX {
                return Ok(Vec::new());
            }
            let rest = self.pending.split_off(PREFIX);
            let prefix = std::mem::replace(&mut self.pending, rest);
            self.dec = Some(DecryptorBE32::from_aead(
                Aes256Gcm::new(&self.key),
                prefix.as_slice().into(),
            ));
        }
        let mut out = Vec::new();
        while self.pending.len() > CHUNK + TAG {
            let rest = self.pending.split_off(CHUNK + TAG);
            let chunk = std::mem::replace(&mut self.pending, rest);
            let dec = self.dec.as_mut().ok_or_else(|| bad(&self.path))?;
            out.extend(
                dec.decrypt_next(Payload {
                    msg: &chunk,
                    aad: &self.aad,
                })
                .map_err(|_| bad(&self.path))?,
            );
        }
        Ok(out)
    }

    /// Opens the last chunk: fails on a part cut short or changed.
    pub fn finish(mut self) -> Result<Vec<u8>, ArchiveError> {
        let dec = self.dec.take().ok_or_else(|| bad(&self.path))?;
        dec.decrypt_last(Payload {
            msg: &self.pending,
            aad: &self.aad,
        })
        .map_err(|_| bad(&self.path))
    }
}

fn bad(path: &str) -> ArchiveError {
    ArchiveError::Damaged(format!(
        "part {path} does not decrypt with this key (changed, cut short, or another key's)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Cipher {
        Cipher::from_hex(&"ab".repeat(32)).unwrap()
    }

    fn seal(c: &Cipher, path: &str, data: &[u8], step: usize) -> Vec<u8> {
        let mut s = c.sealer(path);
        let mut out = Vec::new();
        for chunk in data.chunks(step.max(1)) {
            out.extend(s.push(chunk).unwrap());
        }
        out.extend(s.finish().unwrap());
        out
    }

    fn open(c: &Cipher, path: &str, data: &[u8], step: usize) -> Result<Vec<u8>, ArchiveError> {
        let mut o = c.opener(path);
        let mut out = Vec::new();
        for chunk in data.chunks(step.max(1)) {
            out.extend(o.push(chunk)?);
        }
        out.extend(o.finish()?);
        Ok(out)
    }

    #[test]
    fn parts_round_trip_at_any_size_and_step() {
        let c = key();
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            for step in [1000, 4096, CHUNK + 5] {
                let sealed = seal(&c, "rows/tasks.jsonl.gz", &data, step);
                assert_ne!(sealed.get(7..).unwrap_or_default(), data.as_slice());
                assert_eq!(open(&c, "rows/tasks.jsonl.gz", &sealed, 777).unwrap(), data);
            }
        }
    }

    #[test]
    fn a_changed_cut_moved_or_other_key_part_does_not_open() {
        let c = key();
        let data = vec![9u8; 2 * CHUNK + 10];
        let sealed = seal(&c, "rows/a", &data, 5000);
        let mut flipped = sealed.clone();
        flipped[CHUNK] ^= 1;
        assert!(open(&c, "rows/a", &flipped, 5000).is_err());
        // Cut at a chunk boundary: the last chunk is missing.
        assert!(open(&c, "rows/a", &sealed[..7 + CHUNK + 16], 5000).is_err());
        assert!(open(&c, "rows/b", &sealed, 5000).is_err());
        let other = Cipher::from_hex(&"cd".repeat(32)).unwrap();
        assert!(open(&other, "rows/a", &sealed, 5000).is_err());
        assert_ne!(other.id(), c.id());
        assert!(Cipher::from_hex("short").is_err());
        assert!(!format!("{c:?}").contains("abab"));
    }
}
