# pragma version ~=0.4.3
"""
@title DocumentStore
@notice OpenAttestation DocumentStore-compatible issuance registry: the owner issues Merkle roots of document
        batches and revokes document hashes (a targetHash, a proof node or a whole batch's root). Verifiers call
        isIssued(merkleRoot) and isRevoked(hash), as OpenAttestation's verifier does against its Solidity
        DocumentStore (github.com/Open-Attestation/document-store): same function names, argument types, events
        and revert messages, so either contract serves the other's verifiers.
"""

event DocumentIssued:
    document: indexed(bytes32)

event DocumentRevoked:
    document: indexed(bytes32)

event OwnershipTransferred:
    previousOwner: indexed(address)
    newOwner: indexed(address)

MAX_BULK: constant(uint256) = 1024

name: public(String[100])
version: public(String[16])
owner: public(address)
# the block in which a hash was issued / revoked; 0 = never
documentIssued: public(HashMap[bytes32, uint256])
documentRevoked: public(HashMap[bytes32, uint256])


@deploy
def __init__(_name: String[100]):
    self.name = _name
    self.version = "2.6.1"
    self.owner = msg.sender
    log OwnershipTransferred(previousOwner=empty(address), newOwner=msg.sender)


@internal
def _only_owner():
    assert msg.sender == self.owner, "Ownable: caller is not the owner"


@internal
def _issue(document: bytes32):
    assert self.documentIssued[document] == 0, "Error: Only hashes that have not been issued can be issued"
    self.documentIssued[document] = block.number
    log DocumentIssued(document=document)


@internal
def _revoke(document: bytes32):
    assert self.documentRevoked[document] == 0, "Error: Hash has been revoked previously"
    self.documentRevoked[document] = block.number
    log DocumentRevoked(document=document)


@external
def issue(document: bytes32):
    self._only_owner()
    self._issue(document)


@external
def bulkIssue(documents: DynArray[bytes32, MAX_BULK]):
    self._only_owner()
    for document: bytes32 in documents:
        self._issue(document)


@external
def revoke(document: bytes32) -> bool:
    self._only_owner()
    self._revoke(document)
    return True


@external
def bulkRevoke(documents: DynArray[bytes32, MAX_BULK]):
    self._only_owner()
    for document: bytes32 in documents:
        self._revoke(document)


@view
@external
def getIssuedBlock(document: bytes32) -> uint256:
    assert self.documentIssued[document] != 0, "Error: Only issued document hashes can be revoked"
    return self.documentIssued[document]


@view
@external
def isIssued(document: bytes32) -> bool:
    return self.documentIssued[document] != 0


@view
@external
def isIssuedBefore(document: bytes32, blockNumber: uint256) -> bool:
    return self.documentIssued[document] != 0 and self.documentIssued[document] <= blockNumber


@view
@external
def isRevoked(document: bytes32) -> bool:
    return self.documentRevoked[document] != 0


@view
@external
def isRevokedBefore(document: bytes32, blockNumber: uint256) -> bool:
    return self.documentRevoked[document] != 0 and self.documentRevoked[document] <= blockNumber


@external
def transferOwnership(newOwner: address):
    self._only_owner()
    assert newOwner != empty(address), "Ownable: new owner is the zero address"
    log OwnershipTransferred(previousOwner=self.owner, newOwner=newOwner)
    self.owner = newOwner
