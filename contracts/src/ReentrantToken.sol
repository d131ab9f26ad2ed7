// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Token} from "./Token.sol";

interface ISwapPool {
    function swap(address tokenIn, uint256 amountIn, uint256 amountOutMin, address to, uint256 deadline)
        external
        returns (uint256);
}

/// @title ReentrantToken — HOSTILE fixture: an ERC-20 whose transfer and
/// transferFrom call back into a configured pool's `swap` once (a re-entry
/// attempt). The failure of the inner call is bubbled up, so a pool with a
/// reentrancy lock makes the whole outer call revert.
contract ReentrantToken is Token {
    address public immutable owner;
    address public pool;
    bool private entering;

    constructor(string memory name_, string memory symbol_, uint8 decimals_, address initialHolder, uint256 supply)
        Token(name_, symbol_, decimals_, initialHolder, supply)
    {
        owner = msg.sender;
    }

    /// Arms (or with address(0) disarms) the re-entry into `pool_`.
    function setPool(address pool_) external {
        require(msg.sender == owner, "owner");
        pool = pool_;
    }

    function _afterTransfer() internal override {
        if (pool == address(0) || entering) return;
        entering = true;
        // Swap a token's worth back in, paid by this contract itself.
        ISwapPool(pool).swap(address(this), 1, 0, address(this), type(uint256).max);
        entering = false;
    }
}
