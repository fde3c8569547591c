//! Files of work orders: the stores ([`fsa_store::objects`], shared with
//! the move engine, which carries a tenant's objects when its store
//! changes), streamed uploads ([`upload`]) and the collector ([`gc`]).
//!
//! - [`upload`]: an upload streamed to a store while its SHA-256 is computed.
//! - [`gc`]: objects without rows and rows without objects, across every
//!   store and placement.

pub mod gc;

pub use fsa_store::objects::put as upload;
pub use fsa_store::objects::*;

use fsa_core::{Plan, TenantId};
use uuid::Uuid;

/// A small file given whole, as the demo seed adds them.
#[derive(Debug, Clone)]
pub struct WholeFile {
    pub work_order_id: Uuid,
    pub file_name: String,
    pub content_type: String,
    pub file_type: String,
    pub bytes: bytes::Bytes,
}

impl crate::App {
    /// Stores a file of a work order (the demo seed's way in; uploads
    /// stream through the HTTP server): the object first, then its row
    /// under the plan's `file_bytes`; a refused row deletes the object.
    pub async fn add_file(
        &self,
        tenant: TenantId,
        plan: Plan,
        f: WholeFile,
    ) -> Result<fsa_store::repo::files::FileMeta, crate::AppError> {
        use fsa_store::repo::files;
        let store = self.files.for_plan(plan);
        let id = fsa_core::new_id();
        let key = Store::key(tenant, id);
        let body = futures::stream::iter([Ok::<_, std::convert::Infallible>(f.bytes)]);
        let stored = upload::put_stream(store, &key, body, self.files.max_file_bytes).await?;
        let row = async {
            let mut tx = self.router.begin(tenant, fsa_store::Mode::Write).await?;
            crate::usage::check_adding(
                &mut tx,
                &self.limits,
                plan,
                fsa_core::Resource::FileBytes,
                stored.size,
            )
            .await?;
            let meta = files::create(
                &mut tx,
                files::NewFile {
                    id,
                    work_order_id: f.work_order_id,
                    file_type: f.file_type,
                    file_name: f.file_name,
                    content_type: f.content_type,
                    size_bytes: i64::try_from(stored.size).unwrap_or(i64::MAX),
                    sha256: stored.sha256.clone(),
                    storage_key: key.clone(),
                },
            )
            .await?;
            tx.commit().await?;
            Ok::<_, crate::AppError>(meta)
        }
        .await;
        if row.is_err() {
            let _ = store.delete(&key).await;
        }
        row
    }
}
