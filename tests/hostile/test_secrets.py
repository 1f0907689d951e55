"""Guest console passwords and other secrets never reach a snapshot, wherever the guest
definition lives and however its attributes are written."""

from __future__ import annotations

import os
import tarfile

from tests.hostile.builders import copy_root, run, write

GUESTS = {
    # a guest definition that is a link to a file outside /etc/libvirt
    "srv/vm/a.xml": "<domain type='kvm'><name>a</name><devices>"
    "<graphics type='vnc' port='-1' passwd='VNC-SECRET-A'/></devices></domain>",
    # spaces around '=' and double quotes holding an apostrophe
    "etc/libvirt/qemu/b.xml": "<domain type='kvm'><name>b</name><devices>"
    "<graphics type='spice' passwd = 'SECRET-B'/></devices></domain>",
    "etc/libvirt/qemu/c.xml": "<domain type='kvm'><name>c</name><devices>"
    '<graphics type="vnc" passwd="it\'s SECRET-C"/></devices></domain>',
    # a <secret> with a value, and a password handed to QEMU on its command line
    "etc/libvirt/qemu/d.xml": "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
    "<name>d</name><devices><disk type='network'><source protocol='rbd' name='p/i'>"
    "<auth username='u'><secret type='ceph' usage='x'>SECRET-D</secret></auth></source>"
    "</disk></devices><qemu:commandline>"
    "<qemu:arg value='-object'/><qemu:arg value='secret,id=s0,data=SECRET-E'/>"
    "</qemu:commandline></domain>",
    # a definition that cannot be parsed safely: left out whole
    "etc/libvirt/qemu/f.xml": "<!DOCTYPE domain [<!ENTITY x 'y'>]><domain type='kvm'>"
    "<name>f</name><devices><graphics type='vnc' passwd='SECRET-F'/></devices></domain>",
}


def test_no_secret_reaches_a_snapshot(tmp_path):
    root = copy_root("intel-ready", tmp_path / "root")
    for path, text in GUESTS.items():
        write(root / path, text)
    os.symlink("../../../srv/vm/a.xml", root / "etc/libvirt/qemu/a.xml")
    archive = tmp_path / "h.tar.gz"
    done = run("snapshot", "--root", str(root), "-o", str(archive))
    assert done.code == 0, done
    with tarfile.open(archive) as tar:
        held = b"".join(
            tar.extractfile(item).read()
            for item in tar
            if item.isreg()  # type: ignore[union-attr]
        )
    assert b"SECRET" not in held, [part for part in held.split(b"<") if b"SECRET" in part]
    assert b"<name>b</name>" in held  # the guests themselves are kept
    # The guests are still audited from the snapshot, their secrets gone.
    audited = run("audit", "--snapshot", str(archive), "--format", "json")
    assert not audited.crashed, audited
    assert "SECRET" not in audited.stdout
