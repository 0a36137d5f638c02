//! Protobuf types for the Mesos v1 API, generated at build time by
//! `build.rs` (protox + prost-build) from the hand-written files in `proto/`.
//!
//! prost keeps enum fields as `i32`, so a value added by a newer Mesos decodes
//! fine and simply fails `TryFrom`; unknown *fields* are dropped, which is why
//! `Resource` models (or carries as raw bytes) every field it has.

/// Package `mesos.v1` and its `scheduler` and `executor` sub-packages.
#[allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/mesos.v1.rs"));

    /// Package `mesos.v1.scheduler`: scheduler `Call` and `Event`.
    pub mod scheduler {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.scheduler.rs"));
    }

    /// Package `mesos.v1.executor`: executor `Call` and `Event`.
    pub mod executor {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.executor.rs"));
    }
}

#[cfg(test)]
mod tests {
    use super::v1::{self, Offer, Resource, TaskState, TaskStatus, scheduler};
    use prost::Message;

    /// A minimal protobuf writer, so the expected bytes are built
    /// independently of prost (in field-number order, as Mesos' C++
    /// serializer writes them).
    #[derive(Default)]
    struct W(Vec<u8>);

    impl W {
        fn varint(&mut self, mut v: u64) -> &mut Self {
            loop {
                let b = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    self.0.push(b);
                    return self;
                }
                self.0.push(b | 0x80);
            }
        }
        fn key(&mut self, field: u32, wire: u8) -> &mut Self {
            self.varint((u64::from(field) << 3) | u64::from(wire))
        }
        fn uint(&mut self, field: u32, v: u64) -> &mut Self {
            self.key(field, 0).varint(v)
        }
        fn double(&mut self, field: u32, v: f64) -> &mut Self {
            self.key(field, 1);
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Self {
            self.key(field, 2).varint(v.len() as u64);
            self.0.extend_from_slice(v);
            self
        }
        fn str(&mut self, field: u32, v: &str) -> &mut Self {
            self.bytes(field, v.as_bytes())
        }
        fn msg(&mut self, field: u32, f: impl FnOnce(&mut W)) -> &mut Self {
            let mut inner = W::default();
            f(&mut inner);
            self.bytes(field, &inner.0)
        }
        fn done(&mut self) -> Vec<u8> {
            std::mem::take(&mut self.0)
        }
    }

    /// Resource.DiskInfo{persistence{id, principal}, volume{container_path, mode=RW},
    /// source{type=MOUNT, mount{root}}}: not modelled, carried as bytes.
    fn disk_info() -> Vec<u8> {
        W::default()
            .msg(1, |p| {
                p.str(1, "vol-1").str(2, "logstash");
            })
            .msg(2, |v| {
                v.str(1, "data").uint(3, 1);
            })
            .msg(3, |s| {
                s.uint(1, 2).msg(3, |m| {
                    m.str(1, "/mnt/disk1");
                });
            })
            .done()
    }

    fn reservation(w: &mut W, kind: u64, role: &str) {
        w.str(1, "fw-principal")
            .msg(2, |labels| {
                labels.msg(1, |l| {
                    l.str(1, "owner").str(2, "logs");
                });
            })
            .str(3, role)
            .uint(4, kind);
    }

    /// A resource with every field set, the way a master would write it.
    fn full_resource() -> Vec<u8> {
        W::default()
            .str(1, "disk")
            .uint(2, 0) // SCALAR
            .msg(3, |s| {
                s.double(1, 1024.5);
            })
            .str(6, "logs")
            .bytes(7, &disk_info())
            .msg(8, |r| reservation(r, 2, "logs"))
            .bytes(9, &[]) // RevocableInfo {}
            .bytes(10, &[]) // SharedInfo {}
            .msg(11, |a| {
                a.str(1, "logs");
            })
            .msg(12, |p| {
                p.str(1, "provider-1");
            })
            .msg(13, |r| reservation(r, 1, "logs"))
            .msg(13, |r| reservation(r, 2, "logs/child"))
            .done()
    }

    #[test]
    fn resource_round_trips_byte_exact() {
        let wire = full_resource();
        let r = Resource::decode(&wire[..]).unwrap();
        assert_eq!(r.name, "disk");
        assert_eq!(r.scalar.as_ref().map(|s| s.value), Some(1024.5));
        assert_eq!(
            r.allocation_info.as_ref().and_then(|a| a.role.as_deref()),
            Some("logs")
        );
        assert_eq!(
            r.provider_id.as_ref().map(|p| p.value.as_str()),
            Some("provider-1")
        );
        assert_eq!(r.reservations.len(), 2);
        assert_eq!(r.reservations[1].role.as_deref(), Some("logs/child"));
        assert_eq!(r.disk.as_deref(), Some(&disk_info()[..]));
        assert_eq!(r.revocable.as_deref(), Some(&[][..]));
        assert_eq!(r.shared.as_deref(), Some(&[][..]));
        assert_eq!(r.encode_to_vec(), wire);
    }

    #[test]
    fn ranges_and_sets_round_trip_byte_exact() {
        let ports = W::default()
            .str(1, "ports")
            .uint(2, 1) // RANGES
            .msg(4, |rs| {
                rs.msg(1, |r| {
                    r.uint(1, 31000).uint(2, 32000);
                })
                .msg(1, |r| {
                    r.uint(1, 33000).uint(2, 33010);
                });
            })
            .str(6, "*")
            .done();
        let r = Resource::decode(&ports[..]).unwrap();
        assert_eq!(r.encode_to_vec(), ports);
        let set = W::default()
            .str(1, "zones")
            .uint(2, 2) // SET
            .msg(5, |s| {
                s.str(1, "a").str(1, "b");
            })
            .done();
        assert_eq!(Resource::decode(&set[..]).unwrap().encode_to_vec(), set);
    }

    #[test]
    fn offered_resources_survive_into_a_task() {
        let offer_bytes = W::default()
            .msg(1, |i| {
                i.str(1, "offer-1");
            })
            .msg(2, |f| {
                f.str(1, "fw-1");
            })
            .msg(3, |a| {
                a.str(1, "agent-1");
            })
            .str(4, "host-1")
            .bytes(5, &full_resource())
            .msg(6, |e| {
                e.str(1, "exec-1");
            })
            .msg(7, |a| {
                a.str(1, "rack").uint(2, 3).msg(5, |t| {
                    t.str(1, "r1");
                });
            })
            .done();
        let offer = Offer::decode(&offer_bytes[..]).unwrap();
        assert_eq!(offer.executor_ids[0].value, "exec-1");
        assert_eq!(offer.attributes[0].name, "rack");
        assert_eq!(offer.encode_to_vec(), offer_bytes);
        let task = v1::TaskInfo {
            name: "t".into(),
            task_id: v1::TaskId { value: "t".into() },
            agent_id: offer.agent_id.clone(),
            resources: offer.resources.clone(),
            ..Default::default()
        };
        let again = v1::TaskInfo::decode(&task.encode_to_vec()[..]).unwrap();
        assert_eq!(again.resources[0].encode_to_vec(), full_resource());
    }

    #[test]
    fn unknown_enum_values_do_not_break_decoding() {
        let status = W::default()
            .msg(1, |t| {
                t.str(1, "task-1");
            })
            .uint(2, 99) // a TaskState from the future
            .uint(9, 7) // an unknown Source
            .uint(10, 999) // an unknown Reason
            .done();
        let s = TaskStatus::decode(&status[..]).unwrap();
        assert_eq!(s.state, 99);
        assert!(TaskState::try_from(s.state).is_err());
        assert_eq!(s.reason, Some(999));

        let event = W::default().uint(1, 42).done();
        let e = scheduler::Event::decode(&event[..]).unwrap();
        assert_eq!(e.r#type, Some(42));
        assert!(scheduler::event::Type::try_from(42).is_err());
    }

    #[test]
    fn heartbeat_event_vector() {
        let e = scheduler::Event {
            r#type: Some(scheduler::event::Type::Heartbeat as i32),
            ..Default::default()
        };
        assert_eq!(e.encode_to_vec(), vec![0x08, 0x08]);
    }
}
