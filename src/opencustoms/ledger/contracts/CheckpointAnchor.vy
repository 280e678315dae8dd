# pragma version ~=0.4.3
"""
@title CheckpointAnchor
@notice Anchors signed checkpoints of transparency logs (OpenCustoms AEO ledgers, RFC 9162 trees) on an EVM
        network. A log is named by its origin (e.g. "opencustoms/AR/aeo") and identified by keccak256(origin).
        Only submitters the owner authorised for a log may anchor it; each anchor records the tree size, the root
        hash and the SHA-256 of the checkpoint note as the log signed it; tree sizes of a log only grow. Anyone
        reads an anchor back by log and size (anchorAt), the latest one (latest) or the n-th one (anchorSize), so
        a verifier needs no event history.
        Document roots are not anchored here: they go to the OpenAttestation-compatible DocumentStore contract
        (opencustoms/documents/contracts), whose ABI OpenAttestation's verifiers read.
"""

struct Anchor:
    rootHash: bytes32
    checkpointHash: bytes32
    blockNumber: uint256
    timestamp: uint256
    submitter: address

event CheckpointAnchored:
    logId: indexed(bytes32)
    treeSize: indexed(uint256)
    submitter: indexed(address)
    rootHash: bytes32
    checkpointHash: bytes32
    origin: String[128]

event SubmitterChanged:
    logId: indexed(bytes32)
    submitter: indexed(address)
    allowed: bool
    origin: String[128]

event OwnershipTransferred:
    previousOwner: indexed(address)
    newOwner: indexed(address)

name: public(String[100])
version: public(String[16])
owner: public(address)
# logId -> account -> may anchor that log
submitters: public(HashMap[bytes32, HashMap[address, bool]])
# logId -> largest tree size anchored (0: none)
latestSize: public(HashMap[bytes32, uint256])
# logId -> number of anchors
anchorCount: public(HashMap[bytes32, uint256])
# logId -> n -> tree size of the n-th anchor (n from 0)
sizes: HashMap[bytes32, HashMap[uint256, uint256]]
# logId -> tree size -> anchor
anchors: HashMap[bytes32, HashMap[uint256, Anchor]]


@deploy
def __init__(_name: String[100]):
    self.name = _name
    self.version = "1.0.0"
    self.owner = msg.sender
    log OwnershipTransferred(previousOwner=empty(address), newOwner=msg.sender)


@pure
@external
def logId(origin: String[128]) -> bytes32:
    return keccak256(origin)


@external
def setSubmitter(origin: String[128], submitter: address, allowed: bool):
    assert msg.sender == self.owner, "Ownable: caller is not the owner"
    assert submitter != empty(address), "CheckpointAnchor: submitter is the zero address"
    log_id: bytes32 = keccak256(origin)
    self.submitters[log_id][submitter] = allowed
    log SubmitterChanged(logId=log_id, submitter=submitter, allowed=allowed, origin=origin)


@external
def anchor(origin: String[128], treeSize: uint256, rootHash: bytes32, checkpointHash: bytes32):
    log_id: bytes32 = keccak256(origin)
    assert self.submitters[log_id][msg.sender], "CheckpointAnchor: caller is not authorised for this log"
    assert treeSize > self.latestSize[log_id], "CheckpointAnchor: tree size must grow"
    assert rootHash != empty(bytes32), "CheckpointAnchor: empty root hash"
    self.anchors[log_id][treeSize] = Anchor(
        rootHash=rootHash,
        checkpointHash=checkpointHash,
        blockNumber=block.number,
        timestamp=block.timestamp,
        submitter=msg.sender,
    )
    self.sizes[log_id][self.anchorCount[log_id]] = treeSize
    self.anchorCount[log_id] += 1
    self.latestSize[log_id] = treeSize
    log CheckpointAnchored(
        logId=log_id,
        treeSize=treeSize,
        submitter=msg.sender,
        rootHash=rootHash,
        checkpointHash=checkpointHash,
        origin=origin,
    )


@view
@external
def isAnchored(logId: bytes32, treeSize: uint256) -> bool:
    return self.anchors[logId][treeSize].blockNumber != 0


@view
@external
def anchorAt(logId: bytes32, treeSize: uint256) -> Anchor:
    assert self.anchors[logId][treeSize].blockNumber != 0, "CheckpointAnchor: no anchor at that tree size"
    return self.anchors[logId][treeSize]


@view
@external
def anchorSize(logId: bytes32, n: uint256) -> uint256:
    assert n < self.anchorCount[logId], "CheckpointAnchor: no such anchor"
    return self.sizes[logId][n]


@view
@external
def latest(logId: bytes32) -> (uint256, Anchor):
    return self.latestSize[logId], self.anchors[logId][self.latestSize[logId]]


@external
def transferOwnership(newOwner: address):
    assert msg.sender == self.owner, "Ownable: caller is not the owner"
    assert newOwner != empty(address), "Ownable: new owner is the zero address"
    log OwnershipTransferred(previousOwner=self.owner, newOwner=newOwner)
    self.owner = newOwner
