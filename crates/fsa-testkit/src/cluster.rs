//! Throwaway PostgreSQL clusters: `initdb` into a temporary folder, started
//! on a free port, stopped and removed on drop. As root, the cluster runs as
//! the `postgres` user (initdb refuses root).
//!
//! [`PgCluster::start_tls`] starts one that accepts TLS connections only,
//! with a server certificate for the given host names signed by a CA made
//! for it (rcgen), and a second CA that signed nothing, for refusals.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct PgCluster {
    dir: tempfile::TempDir,
    pub port: u16,
    running: bool,
    tls: bool,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

fn run_pg(args: &[&str]) -> anyhow::Result<()> {
    let (prog, rest) = args
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no command"))?;
    let bin = std::env::var("FSA_PG_BIN").unwrap_or_else(|_| BIN.to_owned());
    let exe = Path::new(&bin).join(prog);
    let out = if is_root() {
        Command::new("runuser")
            .arg("-u")
            .arg("postgres")
            .arg("--")
            .arg(&exe)
            .args(rest)
            .output()?
    } else {
        Command::new(&exe).args(rest).output()?
    };
    if !out.status.success() {
        anyhow::bail!(
            "{prog} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl PgCluster {
    /// Creates and starts a new cluster (trust auth, fsync off).
    pub fn start() -> anyhow::Result<Self> {
        let mut cluster = Self::init()?;
        cluster.start_again()?;
        crate::login::bootstrap_new_server(&cluster.admin_url());
        Ok(cluster)
    }

    /// Creates and starts a cluster that accepts TCP connections over TLS
    /// only (`hostssl` in pg_hba.conf: a connection without TLS is
    /// refused), with a server certificate for `host_names` (DNS names or
    /// IP addresses) signed by [`PgCluster::ca_file`]'s CA.
    pub fn start_tls(host_names: &[&str]) -> anyhow::Result<Self> {
        let mut cluster = Self::init()?;
        cluster.tls = true;
        let tls = TestCerts::generate(host_names)?;
        let data = cluster.data();
        std::fs::write(data.join("server.crt"), &tls.server_cert)?;
        std::fs::write(data.join("server.key"), &tls.server_key)?;
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostssl all all ::1/128 trust\n",
        )?;
        std::fs::write(cluster.ca_file(), &tls.ca_cert)?;
        std::fs::write(cluster.other_ca_file(), &tls.other_ca_cert)?;
        // The server reads its key only if the key is its user's and
        // private to it.
        if is_root() {
            let status = Command::new("chown")
                .arg("postgres:postgres")
                .arg(data.join("server.crt"))
                .arg(data.join("server.key"))
                .arg(data.join("pg_hba.conf"))
                .status()?;
            anyhow::ensure!(status.success(), "chown of the certificate failed");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                data.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )?;
        }
        cluster.start_again()?;
        crate::login::bootstrap_new_server(&cluster.admin_url());
        Ok(cluster)
    }

    /// The CA that signed a TLS cluster's server certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// A CA that signed nothing this cluster has: verifying the server
    /// against it must fail.
    pub fn other_ca_file(&self) -> PathBuf {
        self.dir.path().join("other-ca.crt")
    }

    fn init() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("fsa-pg-").tempdir()?;
        if is_root() {
            let status = Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(dir.path())
                .status()?;
            anyhow::ensure!(status.success(), "chown of the cluster folder failed");
        }
        let data = dir.path().join("data");
        let data_s = data.to_string_lossy().to_string();
        run_pg(&[
            "initdb",
            "-D",
            &data_s,
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        ])?;
        Ok(PgCluster {
            dir,
            port: free_port()?,
            running: false,
            tls: false,
        })
    }

    /// A streaming replica of this cluster (`pg_basebackup -R`), started on
    /// a port of its own and named `name` (its `cluster_name`, which the
    /// primary reports as the replica's `application_name`).
    pub fn start_replica(&self, name: &str) -> anyhow::Result<PgCluster> {
        let dir = tempfile::Builder::new().prefix("fsa-pg-").tempdir()?;
        if is_root() {
            let status = Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(dir.path())
                .status()?;
            anyhow::ensure!(status.success(), "chown of the replica's folder failed");
        }
        let data = dir.path().join("data").to_string_lossy().to_string();
        let port = self.port.to_string();
        run_pg(&[
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-D",
            &data,
            "-R",
            "-X",
            "stream",
            "--no-sync",
        ])?;
        let mut replica = PgCluster {
            dir,
            port: free_port()?,
            running: false,
            tls: false,
        };
        replica.start_with(&format!(" -c cluster_name={name}"))?;
        Ok(replica)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's base URL, without a database, with the least-privileged
    /// login the code under test uses ([`crate::TEST_LOGIN`], made when the
    /// cluster started).
    pub fn base_url(&self) -> String {
        crate::login::registered(&self.admin_url())
    }

    /// The server's base URL as its superuser: for test-only administration.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Stops the server (fast shutdown); its data stays.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let data = self.data().to_string_lossy().to_string();
        run_pg(&["pg_ctl", "-D", &data, "-m", "fast", "-w", "stop"])?;
        self.running = false;
        Ok(())
    }

    /// Starts a stopped server again on the same port.
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        self.start_with("")
    }

    fn start_with(&mut self, extra: &str) -> anyhow::Result<()> {
        let data = self.data().to_string_lossy().to_string();
        let log = self
            .dir
            .path()
            .join("server.log")
            .to_string_lossy()
            .to_string();
        let mut opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        if self.tls {
            opts.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
        }
        opts.push_str(extra);
        run_pg(&[
            "pg_ctl", "-D", &data, "-l", &log, "-o", &opts, "-w", "start",
        ])?;
        self.running = true;
        Ok(())
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let _ = self.stop();
        }
    }
}

/// Certificates for a TLS cluster, in PEM.
struct TestCerts {
    ca_cert: String,
    server_cert: String,
    server_key: String,
    other_ca_cert: String,
}

impl TestCerts {
    fn generate(host_names: &[&str]) -> anyhow::Result<Self> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let ca = |name: &str| -> anyhow::Result<(String, Issuer<'static, KeyPair>)> {
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let key = KeyPair::generate()?;
            let cert = params.self_signed(&key)?;
            Ok((cert.pem(), Issuer::new(params, key)))
        };
        let (ca_cert, issuer) = ca("fsa test CA")?;
        let (other_ca_cert, _) = ca("fsa test CA that signed nothing")?;
        let names: Vec<String> = host_names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names)?;
        params.distinguished_name.push(
            DnType::CommonName,
            host_names.first().copied().unwrap_or("localhost"),
        );
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate()?;
        let server_cert = params.signed_by(&key, &issuer)?.pem();
        Ok(TestCerts {
            ca_cert,
            server_cert,
            server_key: key.serialize_pem(),
            other_ca_cert,
        })
    }
}
